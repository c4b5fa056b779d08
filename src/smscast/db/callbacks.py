"""The webhook outbox and the reads that build webhook payloads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from smscast.db.messages import part_body_joined
from smscast.db.schema import applications, callback_outbox, campaigns, messages
from smscast.domain.callbacks import PartState

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True, slots=True)
class NewCallback:
    account_id: str
    application_id: str
    kind: str
    reference: str
    url: str
    payload: str


@dataclass(frozen=True, slots=True)
class DueCallback:
    id: int
    url: str
    payload: str
    attempts: int
    signing_key: str | None


@dataclass(frozen=True, slots=True)
class PartCallback:
    state: PartState
    account_id: str
    application_id: str
    callback: str


@dataclass(frozen=True, slots=True)
class CampaignCallbackInfo:
    tracking_id: str
    account_id: str
    application_id: str
    name: str | None
    state: str
    progress: str | None


class CallbackRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, callbacks: Sequence[NewCallback], now: datetime) -> None:
        if callbacks:
            self.conn.execute(
                callback_outbox.insert(),
                [
                    {
                        "account_id": c.account_id,
                        "application_id": c.application_id,
                        "kind": c.kind,
                        "reference": c.reference,
                        "url": c.url,
                        "payload": c.payload,
                        "status": PENDING,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for c in callbacks
                ],
            )

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[DueCallback]:
        """Due deliveries, leased to the caller: their next attempt moves to ``lease_until`` so a sender
        that dies mid-flight leaves them to be tried again, never lost."""
        ids = list(
            self.conn.execute(
                sa.select(callback_outbox.c.id)
                .where(callback_outbox.c.status == PENDING, callback_outbox.c.next_attempt_at <= now)
                .order_by(callback_outbox.c.next_attempt_at, callback_outbox.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not ids:
            return []
        self.conn.execute(
            callback_outbox.update().where(callback_outbox.c.id.in_(ids)).values(next_attempt_at=lease_until)
        )
        rows = self.conn.execute(
            sa.select(
                callback_outbox.c.id,
                callback_outbox.c.url,
                callback_outbox.c.payload,
                callback_outbox.c.attempts,
                applications.c.signing_key,
            )
            .join(applications, applications.c.id == callback_outbox.c.application_id)
            .where(callback_outbox.c.id.in_(ids))
            .order_by(callback_outbox.c.id)
        ).all()
        return [DueCallback(*row) for row in rows]

    def delivered(self, callback_id: int, attempts: int, now: datetime) -> None:
        self.conn.execute(
            callback_outbox.update()
            .where(callback_outbox.c.id == callback_id)
            .values(status=DELIVERED, attempts=attempts, finished_at=now, last_error=None)
        )

    def retry_later(self, callback_id: int, attempts: int, when: datetime, error: str) -> None:
        self.conn.execute(
            callback_outbox.update()
            .where(callback_outbox.c.id == callback_id)
            .values(attempts=attempts, next_attempt_at=when, last_error=error[:500])
        )

    def give_up(self, callback_id: int, attempts: int, error: str, now: datetime) -> None:
        self.conn.execute(
            callback_outbox.update()
            .where(callback_outbox.c.id == callback_id)
            .values(status=FAILED, attempts=attempts, last_error=error[:500], finished_at=now)
        )

    def part_callbacks(self, sms_ids: Sequence[str]) -> list[PartCallback]:
        """The parts among ``sms_ids`` that carry a callback, with what their payload reports."""
        if not sms_ids:
            return []
        rows = self.conn.execute(
            sa.select(
                messages.c.sms_id,
                messages.c.message_id,
                messages.c.campaign_id,
                campaigns.c.name,
                messages.c.part,
                messages.c.parts,
                messages.c.label,
                messages.c.to,
                messages.c.sender,
                messages.c.country,
                messages.c.groups,
                part_body_joined(),
                applications.c.name.label("application_name"),
                messages.c.price,
                messages.c.status,
                messages.c.detailed_status,
                messages.c.status_date,
                messages.c.submitted_at,
                messages.c.delivered_at,
                messages.c.account_id,
                messages.c.application_id,
                messages.c.callback,
            )
            .select_from(
                messages.outerjoin(campaigns, campaigns.c.tracking_id == messages.c.campaign_id).join(
                    applications, applications.c.id == messages.c.application_id
                )
            )
            .where(messages.c.sms_id.in_(list(sms_ids)), messages.c.callback.is_not(None))
        ).all()
        out = []
        for r in rows:
            state = PartState(
                sms_id=r.sms_id,
                message_id=r.message_id,
                campaign_id=r.campaign_id,
                campaign_name=r.name,
                part=r.part,
                parts=r.parts,
                label=r.label,
                to=r.to,
                sender=r.sender,
                country=r.country,
                groups=json.loads(r.groups) if r.groups else [],
                body=r.body,
                application_name=r.application_name,
                price=r.price,
                status=r.status,
                detailed_status=r.detailed_status or r.status,
                updated=r.status_date,
                submitted_at=r.submitted_at,
                delivered_at=r.delivered_at,
            )
            out.append(PartCallback(state, r.account_id, r.application_id, r.callback))
        return out

    def campaign_info(self, tracking_id: str) -> CampaignCallbackInfo | None:
        row = self.conn.execute(
            sa.select(
                campaigns.c.tracking_id,
                campaigns.c.account_id,
                campaigns.c.application_id,
                campaigns.c.name,
                campaigns.c.state,
                campaigns.c.callback_progress,
            ).where(campaigns.c.tracking_id == tracking_id)
        ).first()
        return None if row is None else CampaignCallbackInfo(*row)

    def campaign_definition(self, tracking_id: str) -> str | None:
        """The definition the campaign runs (started) or will run, as stored (JSON text): it changes only
        while the campaign is Scheduled."""
        value = self.conn.execute(
            sa.select(campaigns.c.definition).where(campaigns.c.tracking_id == tracking_id)
        ).scalar_one_or_none()
        return None if value is None else str(value)

    def recipients(self, tracking_id: str) -> int:
        return int(
            self.conn.execute(
                sa.select(sa.func.count(sa.distinct(messages.c.message_id))).where(
                    messages.c.campaign_id == tracking_id
                )
            ).scalar_one()
        )

    def set_progress(self, tracking_id: str, progress: str) -> None:
        self.conn.execute(
            campaigns.update()
            .where(campaigns.c.tracking_id == tracking_id)
            .values(callback_progress=progress)
        )

    def counts(self, status: str) -> int:
        return int(
            self.conn.execute(
                sa.select(sa.func.count())
                .select_from(callback_outbox)
                .where(callback_outbox.c.status == status)
            ).scalar_one()
        )
