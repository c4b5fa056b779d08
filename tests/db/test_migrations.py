"""The migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from smscast.db.database import Database
from smscast.db.migrate import downgrade, upgrade
from smscast.db.schema import accounts, campaigns, messages, metadata
from smscast.db.types import UtcDateTime


def test_migrated_schema_matches_metadata(database_url: str) -> None:
    db = Database(database_url)
    try:
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        assert diff == []
    finally:
        db.dispose()


def test_0005_turns_claimed_parts_into_leased_queued_ones(isolated_database_url: str) -> None:
    """Before 0005 a claimed part was ``Sending``; after it, a claimed part is ``Queued`` under its lease
    (docs/adr/0007). The upgrade keeps the lease, so the part is due again when it ends; the downgrade gives
    the old code its ``Sending`` back."""
    db = Database(isolated_database_url)
    lease = datetime(2030, 1, 1, tzinfo=UTC)
    claimed, waiting = "0193f0a4-0000-7000-8000-000000000001", "0193f0a4-0000-7000-8000-000000000002"
    row = {
        "message_id": "0193f0a4-0000-7000-8000-000000000000",
        "account_id": "0193f0a4-0000-7000-8000-00000000000a",
        "application_id": "0193f0a4-0000-7000-8000-00000000000b",
        "part": 1,
        "parts": 1,
        "to": "+306948510000",
        "sender": "ACME",
        "country": "GR",
        "flash": False,
        "status_date": lease,
        "not_before": lease,
        "created_at": lease,
    }
    try:
        downgrade(db, "0004")
        with db.engine.begin() as conn:
            conn.execute(
                messages.insert(),
                [
                    {**row, "sms_id": claimed, "status": "Sending", "lease_until": lease},
                    {**row, "sms_id": waiting, "status": "Queued", "lease_until": None},
                ],
            )
        upgrade(db)
        with db.engine.connect() as conn:
            after = {
                sms_id: (status, lease_until)
                for sms_id, status, lease_until in conn.execute(
                    sa.select(messages.c.sms_id, messages.c.status, messages.c.lease_until)
                )
            }
            if db.engine.dialect.name == "postgresql":
                options = conn.exec_driver_sql(
                    "SELECT reloptions FROM pg_class WHERE relname = 'messages'"
                ).scalar_one()
                assert options == ["fillfactor=50"]
        assert after == {claimed: ("Queued", lease), waiting: ("Queued", None)}
        downgrade(db, "0004")
        with db.engine.connect() as conn:
            statuses = dict(conn.execute(sa.select(messages.c.sms_id, messages.c.status)).all())
        assert statuses == {claimed: "Sending", waiting: "Queued"}
        upgrade(db)
    finally:
        db.dispose()


def test_0006_keeps_only_open_parts_in_the_dispatch_index_on_postgresql(isolated_database_url: str) -> None:
    """PostgreSQL's ix_messages_dispatch holds Queued and Sent parts only; the downgrade restores the index
    over every part. (Not on SQLite: its planner cannot use such an index for the claim.)"""
    db = Database(isolated_database_url)

    def definition() -> str:
        with db.engine.connect() as conn:
            return str(
                conn.exec_driver_sql(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_messages_dispatch'"
                ).scalar_one()
            )

    try:
        if db.engine.dialect.name != "postgresql":
            assert "WHERE" not in _sqlite_definition(db, "ix_messages_dispatch").upper()
            return
        upgrade(db)
        assert definition().endswith(
            "(status, not_before) WHERE ((status)::text = ANY ((ARRAY['Queued'::character varying,"
            " 'Sent'::character varying])::text[]))"
        ), definition()
        downgrade(db, "0005")
        assert definition().endswith("USING btree (status, not_before)")
        upgrade(db)
        assert "WHERE" in definition()
    finally:
        db.dispose()


def test_0007_makes_ids_uuid_on_postgresql_keeping_rows_and_foreign_keys(isolated_database_url: str) -> None:
    """On PostgreSQL the id columns become ``uuid`` (docs/adr/0008) with their values, foreign keys and
    indexes; the downgrade gives ``varchar(36)`` back. SQLite keeps ``VARCHAR(36)`` throughout."""
    db = Database(isolated_database_url)

    def id_types() -> dict[tuple[str, str], str]:
        with db.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT table_name, column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = current_schema()"
                " AND table_name IN ('accounts', 'campaigns', 'messages')"
                " AND column_name IN ('id', 'tracking_id', 'sms_id', 'message_id', 'account_id',"
                " 'campaign_id')"
            ).all()
        return {(table, column): kind for table, column, kind in rows}

    def foreign_keys() -> list[str]:
        with db.engine.connect() as conn:
            return sorted(
                conn.exec_driver_sql(
                    "SELECT conname FROM pg_constraint WHERE contype = 'f'"
                    " AND connamespace = current_schema()::regnamespace"
                ).scalars()
            )

    try:
        if db.engine.dialect.name != "postgresql":
            assert "sms_id VARCHAR(36)" in _sqlite_definition(db, "messages")
            return
        account = "0193f0a4-0000-7000-8000-00000000000a"
        downgrade(db, "0006")
        assert set(id_types().values()) == {"character varying"}
        keys = foreign_keys()
        assert "fk_applications_account_id_accounts" in keys
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO accounts (id, name, currency, balance, created_at)"
                f" VALUES ('{account}', 'A', 'EUR', 0, now())"
            )
        upgrade(db)
        assert set(id_types().values()) == {"uuid"}
        assert foreign_keys() == keys
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT id FROM accounts").scalar_one() == account  # text, not UUID
            assert (
                conn.execute(sa.select(accounts.c.name).where(accounts.c.id == account)).scalar_one() == "A"
            )
            # An id that is not a UUID finds nothing, as on SQLite, instead of failing on the type's syntax.
            assert conn.execute(sa.select(accounts.c.name).where(accounts.c.id == "nope")).first() is None
            with pytest.raises(sa.exc.IntegrityError):
                conn.exec_driver_sql(
                    "INSERT INTO applications (id, account_id, name, secret_hash, scopes, token_ttl_s,"
                    " created_at) VALUES ('0193f0a4-0000-7000-8000-00000000000b',"
                    " '0193f0a4-0000-7000-8000-00000000000f', 'x', 'x', 'sms', 60, now())"
                )
        downgrade(db, "0006")
        assert set(id_types().values()) == {"character varying"}
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT id FROM accounts").scalar_one() == account
        upgrade(db)
    finally:
        db.dispose()


def test_0008_compresses_the_definition_with_lz4_on_postgresql_and_keeps_the_old_copy_readable(
    isolated_database_url: str,
) -> None:
    """0008: this version no longer writes ``started_definition`` (a copy of ``definition``); the column
    stays for the previous version during a rolling upgrade, and the downgrade fills it for started
    campaigns that lack it. On PostgreSQL the large JSON columns of new rows are compressed with lz4."""
    db = Database(isolated_database_url)
    account = "0193f0a4-0000-7000-8000-00000000000a"
    started, scheduled = "0193f0a4-0000-7000-8000-0000000000c1", "0193f0a4-0000-7000-8000-0000000000c2"
    big = '{"to": [' + ", ".join(f'"+30694{i:07d}"' for i in range(5000)) + "]}"

    def insert(tracking_id: str, started_at: str | None) -> None:
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO campaigns (tracking_id, account_id, application_id, state, definition,"
                    " analysis, total_messages, cost, version, created_at, updated_at, started_at)"
                    " VALUES (:id, :account, :account, 'Queued', :definition, '{}', 1, 0, 1,"
                    " '2026-11-28 00:00:00', '2026-11-28 00:00:00', :started_at)"
                ),
                {"id": tracking_id, "account": account, "definition": big, "started_at": started_at},
            )

    try:
        upgrade(db)
        _account_rows(db, account)
        insert(started, "2026-11-28 00:00:01")  # as this version starts it: no copy
        insert(scheduled, None)
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                method = conn.exec_driver_sql(
                    f"SELECT pg_column_compression(definition) FROM campaigns WHERE tracking_id = '{started}'"
                ).scalar_one()
            assert method == "lz4"
        downgrade(db, "0007")
        with db.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT tracking_id, started_definition FROM campaigns").all()
        copies = {str(tracking_id): copy for tracking_id, copy in rows}
        assert (copies[started], copies[scheduled]) == (big, None)
        upgrade(db)
    finally:
        db.dispose()


def test_0009_sets_when_existing_campaigns_reminders_are_due(isolated_database_url: str) -> None:
    """0009 computes the due moments of the reminders of campaigns written before it from their definition
    and scheduled date; campaigns without a reminder (or without a date) get none."""
    db = Database(isolated_database_url)
    account = "0193f0a4-0000-7000-8000-00000000000a"
    both, before_only, without = (f"0193f0a4-0000-7000-8000-0000000000d{i}" for i in range(3))
    try:
        downgrade(db, "0008")
        _account_rows(db, account)
        with db.engine.begin() as conn:
            for tracking_id, reminder in (
                (both, {"minutesBefore": 5, "minutesAfter": 10, "to": ["+306948700001"]}),
                (before_only, {"minutesBefore": 15, "to": ["+306948700001"]}),
                (without, None),
            ):
                definition = {"body": "Hi", "from": "ACME", "to": ["+306948700099"]}
                if reminder is not None:
                    definition["reminder"] = reminder
                conn.execute(
                    sa.text(
                        "INSERT INTO campaigns (tracking_id, account_id, application_id, state,"
                        " scheduled_date, definition, analysis, total_messages, cost, version, created_at,"
                        " updated_at) VALUES (:id, :account, :account, 'Scheduled', :at, :definition, '{}',"
                        " 1, 0, 1, :at, :at)"
                    ).bindparams(sa.bindparam("at", type_=UtcDateTime())),
                    {
                        "id": tracking_id,
                        "account": account,
                        "at": datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
                        "definition": json.dumps(definition),
                    },
                )
        upgrade(db)
        with db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    campaigns.c.tracking_id, campaigns.c.reminder_before_due, campaigns.c.reminder_after_due
                )
            ).all()
        due = {str(tracking_id): (before, after) for tracking_id, before, after in rows}
        assert due == {
            both: (datetime(2026, 12, 1, 9, 55, tzinfo=UTC), datetime(2026, 12, 1, 10, 10, tzinfo=UTC)),
            before_only: (datetime(2026, 12, 1, 9, 45, tzinfo=UTC), None),
            without: (None, None),
        }
    finally:
        db.dispose()


def _account_rows(db: Database, account: str) -> None:
    """An account and an application of the same id, as a campaign row needs them."""
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO accounts (id, name, currency, balance, created_at)"
                " VALUES (:account, 'A', 'EUR', 0, '2026-11-28 00:00:00')"
            ),
            {"account": account},
        )
        conn.execute(
            sa.text(
                "INSERT INTO applications (id, account_id, name, secret_hash, scopes, token_ttl_s,"
                " created_at) VALUES (:account, :account, 'x', 'x', 'sms', 60, '2026-11-28 00:00:00')"
            ),
            {"account": account},
        )


def _sqlite_definition(db: Database, name: str) -> str:
    """The CREATE statement SQLite keeps for the table or index ``name``."""
    with db.engine.connect() as conn:
        return str(conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).scalar_one())
