"""Starting campaigns: due ``Scheduled`` → ``Queued``, expansion into message parts, reminders, and the
``Running → Sent → Finished`` progress.

Expansion streams recipients (``to`` ∪ contacts ∪ group members, de-duplicated by number, minus the
blacklisted), personalises each body, and writes one row per part in batches. Ids are derived from the
campaign and the number (uuid5), and rows are inserted ignoring duplicates, so an expansion interrupted
by a crash is simply run again by whichever worker takes the lease next.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from smscast.db.accounts import AccountRepository
from smscast.db.campaigns import CampaignEngineRepository, CampaignRepository, CampaignRow
from smscast.db.contacts import ContactRecord, ContactRepository
from smscast.db.database import Database
from smscast.db.groups import GroupRepository
from smscast.db.messages import NewPart, insert_ignoring_duplicates
from smscast.domain.analysis import final_text
from smscast.domain.campaigns import CampaignDefinition, CampaignState
from smscast.domain.clock import Clock
from smscast.domain.numbers import region_of, validate_numbers
from smscast.domain.personalisation import compile_template
from smscast.domain.segmentation import count_parts
from smscast.domain.statuses import SENDING, MessageStatus
from smscast.services.callbacks import CallbackPlanner

log = logging.getLogger("smscast.campaigns")

ID_NAMESPACE = uuid.UUID("6b3f4c2e-9f1d-4f57-9a53-2f6d1c0e8a11")
BLACKLIST_SERVICE = "Sms"
WRITE_BATCH = 2000
LEASE = timedelta(seconds=120)


@dataclass(frozen=True, slots=True)
class _Recipient:
    number: str
    region: str
    labels: Mapping[str, str] | None
    group: str | None


class CampaignStarter:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        write_batch: int = WRITE_BATCH,
        callbacks: CallbackPlanner | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.write_batch = write_batch
        self.callbacks = callbacks or CallbackPlanner()

    def start_due(self) -> int:
        """Move every due ``Scheduled`` campaign to ``Queued``; returns how many."""
        now = self.clock.now()
        with self.db.write() as conn:
            started = CampaignRepository(conn).start_due(now)
            for row in started:
                self.callbacks.campaign_changed(conn, row.tracking_id, now, state_changed=True)
            return len(started)

    def expand_next(self) -> str | None:
        """Expand one ``Queued`` campaign into message parts and move it to ``Running``; its tracking id,
        or ``None`` when there was nothing to do."""
        now = self.clock.now()
        with self.db.write() as conn:
            row = CampaignEngineRepository(conn).claim_expansion(now, now + LEASE)
        if row is None:
            return None
        try:
            count = self._expand(row)
        except Exception as exc:
            log.exception("campaign %s could not be expanded", row.tracking_id)
            self._end_expansion(row.tracking_id, CampaignState.FAILED, f"could not be processed: {exc}")
            return row.tracking_id
        self._end_expansion(
            row.tracking_id,
            CampaignState.RUNNING if count else CampaignState.FAILED,
            None
            if count
            else "Your campaign has no recipients: groups are empty or every contact is blacklisted",
        )
        log.info("campaign %s started with %d recipients", row.tracking_id, count)
        return row.tracking_id

    def advance(self) -> None:
        """``Running → Sent`` once nothing waits to be handed over; ``Sent → Finished`` once all is final;
        and for campaigns still going, a progress callback whenever a status crosses another 20 %."""
        with self.db.read() as conn:
            repo = CampaignEngineRepository(conn)
            candidates = repo.in_states([CampaignState.RUNNING, CampaignState.SENT])
            moves: list[tuple[str, CampaignState]] = []
            for tracking_id, state in candidates:
                if state is CampaignState.RUNNING and not repo.open_parts(
                    tracking_id, [MessageStatus.QUEUED.value, SENDING]
                ):
                    state = CampaignState.SENT
                    moves.append((tracking_id, state))
                if state is CampaignState.SENT and not repo.open_parts(
                    tracking_id, [MessageStatus.QUEUED.value, SENDING, MessageStatus.SENT.value]
                ):
                    moves.append((tracking_id, CampaignState.FINISHED))
        now = self.clock.now()
        with self.db.write() as conn:
            repo = CampaignEngineRepository(conn)
            moved = set()
            for tracking_id, target in moves:
                if repo.end_expansion(tracking_id, target, now, None):
                    moved.add(tracking_id)
                    self.callbacks.campaign_changed(conn, tracking_id, now, state_changed=True)
            for tracking_id, _ in candidates:
                if tracking_id not in moved:
                    self.callbacks.campaign_changed(conn, tracking_id, now, state_changed=False)

    def _end_expansion(self, tracking_id: str, target: CampaignState, reason: str | None) -> None:
        now = self.clock.now()
        with self.db.write() as conn:
            if CampaignEngineRepository(conn).end_expansion(tracking_id, target, now, reason):
                self.callbacks.campaign_changed(conn, tracking_id, now, state_changed=True)

    def send_due_reminders(self) -> int:
        """Test SMS to the reminder numbers ``minutesBefore`` the scheduled send and ``minutesAfter`` it."""
        now = self.clock.now()
        sent = 0
        with self.db.read() as conn:
            rows = CampaignEngineRepository(conn).due_reminders(now)
        for row in rows:
            definition = CampaignDefinition.from_json(json.loads(row.started_definition or row.definition))
            reminder = definition.reminder
            if reminder is None or row.scheduled_date is None:
                continue
            moments = []
            if reminder.minutes_before is not None:
                moments.append(("before", row.scheduled_date - timedelta(minutes=reminder.minutes_before)))
            if reminder.minutes_after is not None and row.state is not CampaignState.SCHEDULED:
                moments.append(("after", row.scheduled_date + timedelta(minutes=reminder.minutes_after)))
            for which, at in moments:
                if at > now:
                    continue
                with self.db.write() as conn:
                    if not CampaignEngineRepository(conn).mark_reminder(row.tracking_id, which, now):
                        continue
                    parts = self._reminder_parts(row, definition, which, now)
                    insert_ignoring_duplicates(conn, parts)
                    sent += 1
        return sent

    # --- internals ---------------------------------------------------------------------------------

    def _expand(self, row: CampaignRow) -> int:
        definition = CampaignDefinition.from_json(json.loads(row.started_definition or row.definition))
        template = compile_template(definition.body)
        with self.db.read() as conn:
            account = AccountRepository(conn).get(row.account_id)
        transcode = definition.transcode
        if transcode is None:
            transcode = bool(account and account.enforce_transcoding)
        fixed_text = None if template.is_personalised else final_text(definition.body, transcode)
        fixed_parts = count_parts(fixed_text) if fixed_text is not None else 0
        now = self.clock.now()
        callback = json.dumps(definition.callback.to_json()) if definition.callback else None
        seen: set[str] = set()
        pending: list[NewPart] = []
        for recipient in self._recipients(row.account_id, definition):
            if recipient.number in seen:
                continue
            seen.add(recipient.number)
            if fixed_text is not None:
                text, parts = fixed_text, fixed_parts
            else:
                text = final_text(
                    template.render(recipient.labels or {}, definition.fallback_values), transcode
                )
                parts = count_parts(text)
            message_id = str(uuid.uuid5(ID_NAMESPACE, f"{row.tracking_id}/{recipient.number}"))
            groups = json.dumps([recipient.group]) if recipient.group else None
            for part in range(1, parts + 1):
                pending.append(
                    NewPart(
                        sms_id=str(uuid.uuid5(ID_NAMESPACE, f"{message_id}/{part}")),
                        message_id=message_id,
                        account_id=row.account_id,
                        application_id=row.application_id,
                        campaign_id=row.tracking_id,
                        part=part,
                        parts=parts,
                        to=recipient.number,
                        sender=definition.sender,
                        country=recipient.region,
                        body=text,
                        label=None,
                        flash=definition.flash,
                        groups=groups,
                        callback=callback,
                        status=MessageStatus.QUEUED.value,
                        status_date=now,
                        not_before=now,
                        expires_at=None,
                        created_at=now,
                        quiet_hours=definition.respect_quiet_hours,
                    )
                )
            if len(pending) >= self.write_batch:
                self._flush(row.tracking_id, pending)
                pending = []
        self._flush(row.tracking_id, pending)
        return len(seen)

    def _flush(self, tracking_id: str, parts: list[NewPart]) -> None:
        with self.db.write() as conn:
            insert_ignoring_duplicates(conn, parts)
            CampaignEngineRepository(conn).extend_lease(tracking_id, self.clock.now() + LEASE)

    def _recipients(self, account_id: str, definition: CampaignDefinition) -> Iterator[_Recipient]:
        """Every candidate recipient, blacklisted ones left out (duplicates are the caller's to drop)."""
        numbers = validate_numbers(list(definition.to), "to")
        with self.db.read() as conn:
            contacts = ContactRepository(conn)
            known = contacts.by_mobiles(account_id, [n.e164 for n in numbers])
            for number in numbers:
                contact = known.get(number.e164)
                if contact is not None and BLACKLIST_SERVICE in contact.blacklisted_services:
                    continue
                yield _Recipient(number.e164, number.region, contact.labels if contact else None, None)
            for contact in contacts.by_ids(account_id, list(definition.contacts)):
                if BLACKLIST_SERVICE not in contact.blacklisted_services:
                    yield self._from_contact(contact, None)
            groups = GroupRepository(conn)
            names = [str(n) for n in definition.groups]
            found = groups.find_by_names(account_id, names)
            for name in names:
                if name not in found:
                    continue  # deleted since the campaign was accepted
                for batch in groups.iter_members(account_id, [found[name]]):
                    for contact in batch:
                        if BLACKLIST_SERVICE not in contact.blacklisted_services:
                            yield self._from_contact(contact, name)

    @staticmethod
    def _from_contact(contact: ContactRecord, group: str | None) -> _Recipient:
        return _Recipient(contact.mobile, contact.country or region_of(contact.mobile), contact.labels, group)

    @staticmethod
    def _reminder_parts(
        row: CampaignRow, definition: CampaignDefinition, which: str, now: datetime
    ) -> list[NewPart]:
        assert definition.reminder is not None
        text = compile_template(definition.body).render({}, definition.fallback_values)
        parts = count_parts(text)
        out = []
        for number in validate_numbers(list(definition.reminder.to), "reminder.to"):
            message_id = str(uuid.uuid5(ID_NAMESPACE, f"{row.tracking_id}/reminder-{which}/{number.e164}"))
            for part in range(1, parts + 1):
                out.append(
                    NewPart(
                        sms_id=str(uuid.uuid5(ID_NAMESPACE, f"{message_id}/{part}")),
                        message_id=message_id,
                        account_id=row.account_id,
                        application_id=row.application_id,
                        campaign_id=None,
                        part=part,
                        parts=parts,
                        to=number.e164,
                        sender=definition.sender,
                        country=number.region,
                        body=text,
                        label="reminder",
                        flash=definition.flash,
                        groups=None,
                        callback=None,
                        status=MessageStatus.QUEUED.value,
                        status_date=now,
                        not_before=now,
                        expires_at=None,
                        created_at=now,
                    )
                )
        return out
