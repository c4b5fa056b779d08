"""Campaign rows and their state changes. Every state change is a compare-and-set on ``state``."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from smscast.db.schema import campaigns, messages
from smscast.db.types import UtcDateTime
from smscast.domain.campaigns import CampaignState, sources_of


@dataclass(frozen=True, slots=True)
class CampaignRow:
    tracking_id: str
    account_id: str
    application_id: str
    name: str | None
    state: CampaignState
    scheduled_date: datetime | None
    definition: str
    analysis: str
    total_messages: int
    cost: Decimal
    version: int
    started_version: int | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    # When its reminders are due (from the definition and the scheduled date; None: no such reminder).
    reminder_before_due: datetime | None = None
    reminder_after_due: datetime | None = None


@dataclass(frozen=True, slots=True)
class CampaignWrite:
    """The columns create and update write."""

    name: str | None
    state: CampaignState
    scheduled_date: datetime | None
    definition: str
    analysis: str
    total_messages: int
    cost: Decimal
    reminder_before_due: datetime | None = None
    reminder_after_due: datetime | None = None

    def values(self) -> dict[str, object]:
        return {
            "name": self.name,
            "name_key": self.name.lower() if self.name else None,
            "state": self.state.value,
            "scheduled_date": self.scheduled_date,
            "definition": self.definition,
            "analysis": self.analysis,
            "total_messages": self.total_messages,
            "cost": self.cost,
            "reminder_before_due": self.reminder_before_due,
            "reminder_after_due": self.reminder_after_due,
        }


# The columns a campaign's row is read from (``started_definition`` is no longer used: migration 0008),
# and the same but the large JSON ones (definition, analysis).
_ROW_COLUMNS = tuple(c for c in campaigns.c if c.name != "started_definition")
_SMALL_COLUMNS = tuple(c for c in _ROW_COLUMNS if c.name not in ("definition", "analysis"))


def _row(r: sa.Row[tuple[object, ...]], **given: str) -> CampaignRow:
    """The campaign of a row of every column; ``given``: columns the row leaves out, their values."""
    m = {**r._mapping, **given}
    return CampaignRow(
        tracking_id=m["tracking_id"],
        account_id=m["account_id"],
        application_id=m["application_id"],
        name=m["name"],
        state=CampaignState(m["state"]),
        scheduled_date=m["scheduled_date"],
        definition=m["definition"],
        analysis=m["analysis"],
        total_messages=m["total_messages"],
        cost=m["cost"],
        version=m["version"],
        started_version=m["started_version"],
        failure_reason=m["failure_reason"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        started_at=m["started_at"],
        reminder_before_due=m["reminder_before_due"],
        reminder_after_due=m["reminder_after_due"],
    )


class CampaignRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert(
        self, tracking_id: str, account_id: str, application_id: str, write: CampaignWrite, now: datetime
    ) -> CampaignRow:
        """Insert the campaign; its row as written. The large JSON columns come from ``write``, not back from
        the database (with 20,000 numbers ~0.7 MB the database would decompress and send again)."""
        written = self.conn.execute(
            campaigns.insert()
            .values(
                tracking_id=tracking_id,
                account_id=account_id,
                application_id=application_id,
                version=1,
                created_at=now,
                updated_at=now,
                **write.values(),
            )
            .returning(*_SMALL_COLUMNS)
        ).one()
        return _row(written, definition=write.definition, analysis=write.analysis)

    def get(self, account_id: str, tracking_id: str) -> CampaignRow | None:
        row = self.conn.execute(
            sa.select(*_ROW_COLUMNS).where(
                campaigns.c.tracking_id == tracking_id, campaigns.c.account_id == account_id
            )
        ).first()
        return None if row is None else _row(row)

    def name_taken(self, account_id: str, name: str, except_tracking_id: str | None = None) -> bool:
        query = sa.select(campaigns.c.tracking_id).where(
            campaigns.c.account_id == account_id, campaigns.c.name_key == name.lower()
        )
        if except_tracking_id is not None:
            query = query.where(campaigns.c.tracking_id != except_tracking_id)
        return self.conn.execute(query.limit(1)).first() is not None

    def update_scheduled(
        self, account_id: str, tracking_id: str, write: CampaignWrite, now: datetime
    ) -> CampaignRow | None:
        """Replace the definition if, and only if, the campaign is still ``Scheduled``.

        One statement: a concurrent start either happened before (no row matches, ``None``) or waits for
        this one and then sends the new definition.
        """
        result = self.conn.execute(
            campaigns.update()
            .where(
                campaigns.c.tracking_id == tracking_id,
                campaigns.c.account_id == account_id,
                campaigns.c.state == CampaignState.SCHEDULED.value,
            )
            .values(version=campaigns.c.version + 1, updated_at=now, **write.values())
            .returning(*_SMALL_COLUMNS)
        ).first()
        return None if result is None else _row(result, definition=write.definition, analysis=write.analysis)

    def cancel(self, account_id: str, tracking_id: str, now: datetime) -> CampaignRow | None:
        result = self.conn.execute(
            campaigns.update()
            .where(
                campaigns.c.tracking_id == tracking_id,
                campaigns.c.account_id == account_id,
                campaigns.c.state == CampaignState.SCHEDULED.value,
            )
            .values(state=CampaignState.CANCELLED.value, updated_at=now)
            .returning(*_ROW_COLUMNS)
        ).first()
        return None if result is None else _row(result)

    def start_due(self, now: datetime, limit: int = 100) -> list[str]:
        """Move due ``Scheduled`` campaigns to ``Queued`` and record the definition version being sent (the
        definition itself changes only while Scheduled: it is what is sent); their tracking ids.

        The SELECT locks the due rows it picks (skipping any an update is changing right now; they are
        picked on the next tick); the UPDATE re-checks ``state``, so a campaign updated or cancelled in
        between is decided by whichever statement commits first, never both.
        """
        due = list(
            self.conn.execute(
                sa.select(campaigns.c.tracking_id)
                .where(
                    campaigns.c.state == CampaignState.SCHEDULED.value,
                    sa.or_(campaigns.c.scheduled_date.is_(None), campaigns.c.scheduled_date <= now),
                )
                .order_by(campaigns.c.scheduled_date)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not due:
            return []
        return list(
            self.conn.execute(
                campaigns.update()
                .where(campaigns.c.tracking_id.in_(due), campaigns.c.state == CampaignState.SCHEDULED.value)
                .values(
                    state=CampaignState.QUEUED.value,
                    started_version=campaigns.c.version,
                    started_at=now,
                    updated_at=now,
                )
                .returning(campaigns.c.tracking_id)
            ).scalars()
        )

    def page(
        self, account_id: str, state: str | None, name: str | None, offset: int, limit: int
    ) -> tuple[list[CampaignRow], int]:
        where = [campaigns.c.account_id == account_id]
        if state:
            where.append(campaigns.c.state == state)
        if name:
            where.append(campaigns.c.name_key.contains(name.lower(), autoescape=True))
        total = self.conn.execute(
            sa.select(sa.func.count()).select_from(campaigns).where(*where)
        ).scalar_one()
        rows = self.conn.execute(
            sa.select(*_ROW_COLUMNS)
            .where(*where)
            .order_by(campaigns.c.created_at.desc(), campaigns.c.tracking_id.desc())
            .offset(offset)
            .limit(limit)
        ).all()
        return [_row(r) for r in rows], int(total)

    def status_counts(self, tracking_ids: Iterable[str]) -> dict[str, dict[str, int]]:
        """tracking id → message status → number of parts."""
        ids = list(tracking_ids)
        out: dict[str, dict[str, int]] = {tid: {} for tid in ids}
        if not ids:
            return out
        rows = self.conn.execute(
            sa.select(messages.c.campaign_id, messages.c.status, sa.func.count())
            .where(messages.c.campaign_id.in_(ids))
            .group_by(messages.c.campaign_id, messages.c.status)
        ).all()
        for campaign_id, status, count in rows:
            out[campaign_id][status] = int(count)
        return out

    def progress_span(self, tracking_id: str) -> tuple[datetime | None, datetime | None]:
        """When the campaign's first part was created and when any part last changed status."""
        first, last = self.conn.execute(
            sa.select(sa.func.min(messages.c.created_at), sa.func.max(messages.c.status_date)).where(
                messages.c.campaign_id == tracking_id
            )
        ).one()
        return first, last

    def progress_at(
        self, tracking_id: str, start: datetime, end: datetime, points: int
    ) -> list[ProgressPoint]:
        """How many parts were queued, sent (not final yet), delivered and otherwise ended (Undelivered,
        Failed, Unsent) at ``points`` evenly spaced moments from ``start`` to ``end`` (at least 2).

        Five GROUP BY queries over the campaign's parts (when each was created, submitted, delivered,
        ended, and ended after a submit), bucketed to the next moment and summed up here: a few seconds'
        work for millions of parts rather than one comparison per part and moment. Exact up to the
        bucketing, because statuses only move forward and ``status_date`` is when the current one was set.
        """
        points = max(points, 2)
        step_s = max((end - start).total_seconds(), 0.001) / (points - 1)
        c = messages.c
        events = {
            "created": (c.created_at, sa.true()),
            "submitted": (c.submitted_at, c.submitted_at.is_not(None)),
            "delivered": (c.status_date, c.status == "Delivered"),
            "ended": (c.status_date, c.status.in_(_ENDED)),
            "ended_after_submit": (c.status_date, sa.and_(c.status.in_(_FINAL), c.submitted_at.is_not(None))),
        }
        totals: dict[str, list[int]] = {}
        for name, (column, condition) in events.items():
            counts = [0] * points
            bucket = self._bucket(column, start, step_s).label("bucket")
            rows = self.conn.execute(
                sa.select(bucket, sa.func.count())
                .where(c.campaign_id == tracking_id, condition)
                .group_by(bucket)
            ).all()
            for index, count in rows:
                counts[min(max(int(index), 0), points - 1)] += int(count)
            totals[name] = list(itertools.accumulate(counts))
        out: list[ProgressPoint] = []
        for i in range(points):
            sent = totals["submitted"][i] - totals["ended_after_submit"][i]
            delivered, ended = totals["delivered"][i], totals["ended"][i]
            moment = start + timedelta(seconds=step_s * i)
            out.append(
                ProgressPoint(moment, totals["created"][i] - sent - delivered - ended, sent, delivered, ended)
            )
        return out

    def _bucket(
        self, column: sa.ColumnElement[datetime], start: datetime, step_s: float
    ) -> sa.ColumnElement[int]:
        """The index of the first moment (``start + i * step_s``) at or after ``column``."""
        origin = sa.literal(start, UtcDateTime())
        if self.conn.dialect.name == "postgresql":
            seconds = sa.extract("epoch", column) - sa.extract("epoch", origin)
            return sa.cast(sa.func.ceil(seconds / step_s), sa.Integer)
        seconds = (sa.func.julianday(column) - sa.func.julianday(origin)) * 86400.0
        # SQLite has no ceil() unless built with its math functions; CAST truncates (towards 0).
        return sa.cast(seconds / step_s + 0.999999, sa.Integer)


@dataclass(frozen=True, slots=True)
class ExpansionClaim:
    """A campaign leased for its expansion: what the expansion reads of it."""

    tracking_id: str
    account_id: str
    application_id: str
    definition: str


@dataclass(frozen=True, slots=True)
class ProgressPoint:
    """A campaign's parts by status at one moment (``ended``: Undelivered, Failed or Unsent)."""

    at: datetime
    queued: int
    sent: int
    delivered: int
    ended: int


_ENDED = ("Undelivered", "Failed", "Unsent")
# A campaign in one of these sends no reminder any more (a Finished one still sends its "after" one).
_NO_REMINDERS = (CampaignState.CANCELLED.value, CampaignState.FAILED.value)
_FINAL = ("Delivered", *_ENDED)


class CampaignEngineRepository:
    """The statements the engine loops use on campaigns (start, expansion lease, progress)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def claim_expansion(self, now: datetime, lease_until: datetime) -> ExpansionClaim | None:
        """Lease one ``Queued`` campaign nobody is expanding (or whose expander died): what its expansion
        needs of it."""
        candidate = self.conn.execute(
            sa.select(campaigns.c.tracking_id)
            .where(
                campaigns.c.state == CampaignState.QUEUED.value,
                sa.or_(campaigns.c.lease_until.is_(None), campaigns.c.lease_until < now),
            )
            .order_by(campaigns.c.updated_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if candidate is None:
            return None
        row = self.conn.execute(
            campaigns.update()
            .where(campaigns.c.tracking_id == candidate, campaigns.c.state == CampaignState.QUEUED.value)
            .values(
                lease_until=lease_until,
                # A campaign created to send now has not recorded which version it sends yet.
                started_version=sa.func.coalesce(campaigns.c.started_version, campaigns.c.version),
                started_at=sa.func.coalesce(campaigns.c.started_at, now),
            )
            .returning(
                campaigns.c.tracking_id,
                campaigns.c.account_id,
                campaigns.c.application_id,
                campaigns.c.definition,
            )
        ).first()
        return None if row is None else ExpansionClaim(*row)

    def extend_lease(self, tracking_id: str, lease_until: datetime, checkpoint: str | None = None) -> None:
        """Keep the expansion lease; with ``checkpoint``, also record where the expansion stands (in the
        transaction that wrote the parts up to there)."""
        values: dict[str, object] = {"lease_until": lease_until}
        if checkpoint is not None:
            values["expansion_checkpoint"] = checkpoint
        self.conn.execute(campaigns.update().where(campaigns.c.tracking_id == tracking_id).values(**values))

    def expansion_checkpoint(self, tracking_id: str) -> str | None:
        """Where an earlier, interrupted expansion of the campaign stopped (``None``: not begun)."""
        value = self.conn.execute(
            sa.select(campaigns.c.expansion_checkpoint).where(campaigns.c.tracking_id == tracking_id)
        ).scalar_one_or_none()
        return None if value is None else str(value)

    def set_message_body(self, tracking_id: str, text: str | None) -> None:
        """The final text shared by every part of the campaign (parts store NULL), or ``None``."""
        self.conn.execute(
            campaigns.update().where(campaigns.c.tracking_id == tracking_id).values(message_body=text)
        )

    def end_expansion(
        self, tracking_id: str, target: CampaignState, now: datetime, reason: str | None
    ) -> bool:
        values: dict[str, object] = {"state": target.value, "updated_at": now, "lease_until": None}
        if reason is not None:
            values["failure_reason"] = reason[:500]
        return (
            self.conn.execute(
                campaigns.update()
                .where(
                    campaigns.c.tracking_id == tracking_id,
                    campaigns.c.state.in_([s.value for s in sources_of(target)]),
                )
                .values(**values)
            ).rowcount
            == 1
        )

    def in_states(self, states: Iterable[CampaignState], limit: int = 500) -> list[tuple[str, CampaignState]]:
        rows = self.conn.execute(
            sa.select(campaigns.c.tracking_id, campaigns.c.state)
            .where(campaigns.c.state.in_([s.value for s in states]))
            .limit(limit)
        ).all()
        return [(tid, CampaignState(state)) for tid, state in rows]

    def open_parts(self, tracking_id: str, statuses: Iterable[str]) -> bool:
        """True when some part of the campaign is still in one of ``statuses``."""
        return (
            self.conn.execute(
                sa.select(messages.c.sms_id)
                .where(messages.c.campaign_id == tracking_id, messages.c.status.in_(list(statuses)))
                .limit(1)
            ).first()
            is not None
        )

    def due_reminders(self, now: datetime, limit: int = 50) -> list[CampaignRow]:
        """Campaigns, neither cancelled nor failed, with a reminder due by ``now`` and not sent yet: the one
        before the send, or the one after it once the campaign started; the earliest due first. Reads the
        definitions of those campaigns only (through ``ix_campaigns_reminder_*_due``)."""
        c = campaigns.c
        before = sa.and_(c.reminder_before_at.is_(None), c.reminder_before_due <= now)
        after = sa.and_(
            c.reminder_after_at.is_(None),
            c.reminder_after_due <= now,
            c.state != CampaignState.SCHEDULED.value,
        )
        # A due "before" reminder is earlier than the "after" one of the same campaign.
        due = sa.case((before, c.reminder_before_due), else_=c.reminder_after_due)
        rows = self.conn.execute(
            sa.select(*_ROW_COLUMNS)
            .where(
                sa.or_(before, after),
                c.state.not_in(_NO_REMINDERS),
            )
            .order_by(due)
            .limit(limit)
        ).all()
        return [_row(r) for r in rows]

    def without_reminder_moments(self) -> list[tuple[str, datetime, str]]:
        """``(tracking_id, scheduled_date, definition)`` of the campaigns that may still send a reminder
        (`due_reminders`' states) whose definition has one but which have no due moment stored: written by
        a process of a version before migration 0009 (during a rolling upgrade). Reads every such
        definition: once per process."""
        c = campaigns.c
        rows = self.conn.execute(
            sa.select(c.tracking_id, c.scheduled_date, c.definition).where(
                c.reminder_before_due.is_(None),
                c.reminder_after_due.is_(None),
                c.scheduled_date.is_not(None),
                c.state.not_in(_NO_REMINDERS),
                c.definition.contains('"reminder"'),
            )
        ).all()
        return [(tracking_id, scheduled, definition) for tracking_id, scheduled, definition in rows]

    def set_reminder_moments(self, tracking_id: str, before: datetime | None, after: datetime | None) -> None:
        self.conn.execute(
            campaigns.update()
            .where(campaigns.c.tracking_id == tracking_id)
            .values(reminder_before_due=before, reminder_after_due=after)
        )

    def mark_reminder(self, tracking_id: str, which: str, now: datetime) -> bool:
        column = campaigns.c.reminder_before_at if which == "before" else campaigns.c.reminder_after_at
        return (
            self.conn.execute(
                campaigns.update()
                .where(campaigns.c.tracking_id == tracking_id, column.is_(None))
                .values({column: now})
            ).rowcount
            == 1
        )

    def held_per_country(self, tracking_id: str) -> dict[str, int]:
        rows = self.conn.execute(
            sa.select(messages.c.country, sa.func.count())
            .where(messages.c.campaign_id == tracking_id, messages.c.held.is_(True))
            .group_by(messages.c.country)
        ).all()
        return {country: int(count) for country, count in rows}
