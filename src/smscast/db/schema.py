"""Table definitions (SQLAlchemy Core). Migrations under ``migrations/`` create exactly this schema;
``tests/db/test_migrations.py`` compares the two so they cannot drift apart."""

from __future__ import annotations

import sqlalchemy as sa

from smscast.db.types import Id, Money, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", Id(), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    # Cached sum of the ledger, updated in the same transaction as every ledger row.
    sa.Column("balance", Money(), nullable=False),
    sa.Column("enforce_transcoding", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

applications = sa.Table(
    "applications",
    metadata,
    sa.Column("id", Id(), primary_key=True),
    sa.Column("account_id", Id(), sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("secret_hash", sa.String(128), nullable=False),
    # SHA-256 of the secret: the HMAC key webhooks are signed with (docs/adr/0003).
    sa.Column("signing_key", sa.String(64), nullable=True),
    sa.Column("scopes", sa.String(200), nullable=False),
    sa.Column("token_ttl_s", sa.Integer(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("application_id", Id(), sa.ForeignKey("applications.id"), nullable=False, index=True),
    sa.Column("account_id", Id(), sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("scopes", sa.String(200), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("revoked", sa.Boolean(), nullable=False, server_default=sa.false()),
)

transactions = sa.Table(
    "transactions",
    metadata,
    sa.Column("id", Id(), primary_key=True),
    sa.Column("account_id", Id(), sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("transaction_type", sa.String(20), nullable=False),
    sa.Column("amount", Money(), nullable=False),
    sa.Column("balance_before", Money(), nullable=False),
    sa.Column("balance_after", Money(), nullable=False),
    sa.Column("date", UtcDateTime(), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reference", sa.String(64), nullable=True),
    sa.Index("ix_transactions_account_date", "account_id", "date"),
)

prices = sa.Table(
    "prices",
    metadata,
    sa.Column("mcc", sa.String(3), primary_key=True),
    sa.Column("mnc", sa.String(3), primary_key=True),
    sa.Column("iso", sa.String(2), nullable=False, index=True),
    sa.Column("country", sa.String(100), nullable=False),
    sa.Column("network", sa.String(100), nullable=False),
    sa.Column("price", Money(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
)

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", sa.String(24), primary_key=True),
    sa.Column("account_id", Id(), sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("mobile", sa.String(20), nullable=False),
    sa.Column("first_name", sa.String(200), nullable=True),
    sa.Column("last_name", sa.String(200), nullable=True),
    sa.Column("email", sa.String(200), nullable=True),
    sa.Column("country", sa.String(2), nullable=True),
    sa.Column("vip", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("account_id", "mobile", name="uq_contacts_account_mobile"),
)

label_definitions = sa.Table(
    "label_definitions",
    metadata,
    sa.Column("account_id", Id(), sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("type", sa.String(10), nullable=False),
)

contact_labels = sa.Table(
    "contact_labels",
    metadata,
    sa.Column(
        "contact_id", sa.String(24), sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.String(1000), nullable=False),
)

groups = sa.Table(
    "groups",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("account_id", Id(), sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("strategy", sa.String(10), nullable=False),
    sa.Column("filters", sa.Text(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("account_id", "name", name="uq_groups_account_name"),
)

group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column("group_id", sa.Integer(), sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "contact_id", sa.String(24), sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Index("ix_group_members_contact", "contact_id"),
)

blacklist = sa.Table(
    "blacklist",
    metadata,
    sa.Column(
        "contact_id", sa.String(24), sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("service", sa.String(20), primary_key=True),
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("tracking_id", Id(), primary_key=True),
    sa.Column("account_id", Id(), sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("application_id", Id(), sa.ForeignKey("applications.id"), nullable=False),
    sa.Column("name", sa.String(30), nullable=True),
    # Lower-cased name: names are unique per account case-insensitively (NULLs never collide).
    sa.Column("name_key", sa.String(30), nullable=True),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("scheduled_date", UtcDateTime(), nullable=True),
    # Changes only while Scheduled (a compare-and-set on ``state``): what a started campaign sends.
    # PostgreSQL compresses both with lz4 where it can (migration 0008).
    sa.Column("definition", sa.Text(), nullable=False),
    sa.Column("analysis", sa.Text(), nullable=False),
    sa.Column("total_messages", sa.Integer(), nullable=False),
    sa.Column("cost", Money(), nullable=False),
    # Bumped by every accepted update; the start records which version it sent.
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("started_version", sa.Integer(), nullable=True),
    # No longer written or read (migration 0008: it was a copy of ``definition``); kept for processes of
    # the previous version during a rolling upgrade, to be dropped in a later release.
    sa.Column("started_definition", sa.Text(), nullable=True),
    sa.Column("failure_reason", sa.String(500), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=True),
    # Held by the worker expanding the campaign into messages; another may take over once it runs out.
    sa.Column("lease_until", UtcDateTime(), nullable=True),
    # When the reminders are due (from the definition: scheduled date and minutes; NULL: none) and when
    # they were sent: the scheduler asks for due ones without reading any definition (migration 0009).
    sa.Column("reminder_before_due", UtcDateTime(), nullable=True),
    sa.Column("reminder_after_due", UtcDateTime(), nullable=True),
    sa.Column("reminder_before_at", UtcDateTime(), nullable=True),
    sa.Column("reminder_after_at", UtcDateTime(), nullable=True),
    # Per status, the last 20 % step reported to the campaign callback ({"Delivered": 3, …}).
    sa.Column("callback_progress", sa.Text(), nullable=True),
    # Where an interrupted expansion resumes (JSON), written in the transaction of each batch of parts.
    sa.Column("expansion_checkpoint", sa.Text(), nullable=True),
    # The final text of a campaign whose body is not personalised; its parts store NULL (see PART_BODY).
    sa.Column("message_body", sa.Text(), nullable=True),
    sa.UniqueConstraint("account_id", "name_key", name="uq_campaigns_account_name_key"),
    sa.Index("ix_campaigns_state_scheduled", "state", "scheduled_date"),
    sa.Index("ix_campaigns_account_created", "account_id", "created_at"),
    # Reminders not sent yet, by when they are due.
    sa.Index(
        "ix_campaigns_reminder_before_due",
        "reminder_before_due",
        postgresql_where=sa.text("reminder_before_at IS NULL"),
        sqlite_where=sa.text("reminder_before_at IS NULL"),
    ),
    sa.Index(
        "ix_campaigns_reminder_after_due",
        "reminder_after_due",
        postgresql_where=sa.text("reminder_after_at IS NULL"),
        sqlite_where=sa.text("reminder_after_at IS NULL"),
    ),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("sms_id", Id(), primary_key=True),
    sa.Column("message_id", Id(), nullable=False, index=True),
    # No foreign keys on this table (accounts.id, campaigns.tracking_id): checked per row they cost a third
    # of the campaign start; only the engine writes parts, with ids it just read. docs/adr/0004.
    sa.Column("account_id", Id(), nullable=False),
    sa.Column("application_id", Id(), nullable=False),
    sa.Column("campaign_id", Id(), nullable=True),
    sa.Column("part", sa.Integer(), nullable=False),
    sa.Column("parts", sa.Integer(), nullable=False),
    sa.Column("to", sa.String(20), nullable=False),
    sa.Column("sender", sa.String(16), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    # NULL: the campaign's ``message_body`` (db.messages.PART_BODY reads either).
    sa.Column("body", sa.Text(), nullable=True),
    sa.Column("label", sa.String(20), nullable=True),
    sa.Column("flash", sa.Boolean(), nullable=False),
    sa.Column("groups", sa.Text(), nullable=True),
    sa.Column("callback", sa.Text(), nullable=True),
    sa.Column("quiet_hours", sa.Boolean(), nullable=False, server_default=sa.false()),
    # Set once a dispatcher held the part back for quiet hours (the campaign's quietHoursReport).
    sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("detailed_status", sa.String(30), nullable=True),
    sa.Column("status_date", UtcDateTime(), nullable=False),
    sa.Column("price", Money(), nullable=True),
    sa.Column("carrier_message_id", sa.String(64), nullable=True),
    sa.Column("not_before", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=True),
    sa.Column("lease_until", UtcDateTime(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("submitted_at", UtcDateTime(), nullable=True),
    sa.Column("delivered_at", UtcDateTime(), nullable=True),
    sa.Index("ix_messages_campaign_status", "campaign_id", "status"),
    # Only submitted parts have a carrier id: inserting new parts does not touch this index.
    sa.Index(
        "ix_messages_carrier_message_id",
        "carrier_message_id",
        postgresql_where=sa.text("carrier_message_id IS NOT NULL"),
        sqlite_where=sa.text("carrier_message_id IS NOT NULL"),
    ),
    # Only open parts on PostgreSQL: a part's final version gets no entry in it (migration 0006).
    sa.Index(
        "ix_messages_dispatch",
        "status",
        "not_before",
        postgresql_where=sa.text("status IN ('Queued', 'Sent')"),
    ),
    sa.Index("ix_messages_account_created", "account_id", "created_at"),
    # Room for the claim's new version of every row of a page on that page: a HOT update (migration 0005).
    postgresql_with={"fillfactor": 50},
)

# Delivery receipts land here first (durably, before the SMSC is answered), then are applied to the
# message they belong to; one that arrives before its submit result is recorded simply waits here.
receipt_inbox = sa.Table(
    "receipt_inbox",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("carrier_message_id", sa.String(64), nullable=False, index=True),
    sa.Column("stat", sa.String(16), nullable=False),
    sa.Column("error_code", sa.String(16), nullable=True),
    sa.Column("received_at", UtcDateTime(), nullable=False),
)

# Webhook deliveries, written in the same transaction as the status change that causes them.
callback_outbox = sa.Table(
    "callback_outbox",
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("account_id", Id(), nullable=False),
    sa.Column("application_id", Id(), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("reference", sa.String(64), nullable=False),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime(), nullable=True),
    sa.Index("ix_callback_outbox_due", "status", "next_attempt_at"),
)
