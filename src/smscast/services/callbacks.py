"""Webhooks: planning deliveries inside the transaction of the change that causes them, and recording
the sender's attempts (api.md §6)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from smscast.db.callbacks import CallbackRepository, DueCallback, NewCallback
from smscast.db.campaigns import CampaignRepository
from smscast.db.database import Database
from smscast.domain import callbacks as rules
from smscast.domain.campaigns import CallbackStrategy, CampaignState
from smscast.domain.clock import Clock

# A started campaign's definition never changes again: its campaignCallback is read once per process.
_STARTED = frozenset(
    state.value for state in CampaignState if state not in (CampaignState.SCHEDULED, CampaignState.CANCELLED)
)
_KNOWN_CALLBACKS = 10_000


class CallbackPlanner:
    """Writes outbox rows in the caller's transaction, so a status change and its webhook commit together."""

    def __init__(self) -> None:
        # tracking id → campaignCallback (or None) of started campaigns. Reading it meant parsing the whole
        # stored definition (~5 ms for 20,000 numbers) on every scheduler pass, inside SQLite's write
        # transaction that the dispatchers wait for.
        self._campaign_callbacks: dict[str, dict[str, Any] | None] = {}

    def parts_changed(self, conn: Connection, sms_ids: Sequence[str], now: datetime) -> None:
        """Parts whose status just changed; those with a ``callback`` that wants this status get one."""
        if not sms_ids:
            return
        repo = CallbackRepository(conn)
        planned: list[NewCallback] = []
        for item in repo.part_callbacks(sms_ids):
            callback = json.loads(item.callback)
            if not rules.wants_message_callback(callback.get("strategy", "OnChange"), item.state.status):
                continue
            payload = rules.encode(rules.message_payload(item.state))
            planned.append(
                NewCallback(
                    item.account_id,
                    item.application_id,
                    "message",
                    item.state.sms_id,
                    callback["url"],
                    payload,
                )
            )
        repo.add(planned, now)

    def campaign_changed(
        self, conn: Connection, tracking_id: str, now: datetime, *, state_changed: bool
    ) -> None:
        """A campaign changed state (``state_changed``) or its parts moved: report a state change, or a
        status share that crossed another 20 % step, to its ``campaignCallback``."""
        repo = CallbackRepository(conn)
        info = repo.campaign_info(tracking_id)
        if info is None:
            return
        callback = self._campaign_callback(repo, tracking_id, info.state)
        if not callback:
            return
        strategy = callback.get("strategy", CallbackStrategy.ON_CHANGE.value)
        counts = CampaignRepository(conn).status_counts([tracking_id])[tracking_id]
        steps = rules.progress_steps(counts, sum(counts.values()))
        previous = json.loads(info.progress) if info.progress else {}
        if strategy == CallbackStrategy.ON_COMPLETION.value:
            due = state_changed and info.state == CampaignState.FINISHED.value
        else:
            due = state_changed or rules.crossed(previous, steps)
        if steps != previous:
            repo.set_progress(tracking_id, json.dumps(steps, sort_keys=True))
        if not due:
            return
        payload = rules.campaign_payload(
            tracking_id,
            info.name,
            repo.recipients(tracking_id),
            info.state,
            counts,
            callback["url"],
            strategy,
        )
        repo.add(
            [
                NewCallback(
                    info.account_id,
                    info.application_id,
                    "campaign",
                    tracking_id,
                    callback["url"],
                    rules.encode(payload),
                )
            ],
            now,
        )

    def _campaign_callback(
        self, repo: CallbackRepository, tracking_id: str, state: str
    ) -> dict[str, Any] | None:
        known = self._campaign_callbacks
        if tracking_id in known:
            return known[tracking_id]
        definition = repo.campaign_definition(tracking_id)
        value = json.loads(definition).get("campaignCallback") if definition else None
        callback: dict[str, Any] | None = value if isinstance(value, dict) else None
        if state in _STARTED:
            if len(known) >= _KNOWN_CALLBACKS:
                known.clear()
            known[tracking_id] = callback
        return callback


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one POST: ``ok`` for any 2xx answer within the timeout."""

    callback: DueCallback
    ok: bool
    error: str | None = None


class CallbackService:
    """The sender's side of the outbox: lease due deliveries, record each attempt."""

    def __init__(self, db: Database, clock: Clock, retry_s: Sequence[int], timeout_s: float) -> None:
        self.db = db
        self.clock = clock
        self.retry_s = tuple(retry_s)
        # A leased delivery comes back if its sender died: after the timeout plus a margin.
        self.lease = timedelta(seconds=timeout_s * 2 + 30)

    def claim(self, limit: int) -> list[DueCallback]:
        now = self.clock.now()
        with self.db.write() as conn:
            return CallbackRepository(conn).claim_due(now, now + self.lease, limit)

    def record(self, attempts: Sequence[Attempt]) -> None:
        if not attempts:
            return
        now = self.clock.now()
        with self.db.write() as conn:
            repo = CallbackRepository(conn)
            for attempt in attempts:
                made = attempt.callback.attempts + 1
                if attempt.ok:
                    repo.delivered(attempt.callback.id, made, now)
                    continue
                error = attempt.error or "failed"
                when = rules.next_attempt(made, now, self.retry_s)
                if when is None:
                    repo.give_up(attempt.callback.id, made, error, now)
                else:
                    repo.retry_later(attempt.callback.id, made, when, error)
