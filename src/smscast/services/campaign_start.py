"""Starting campaigns: due ``Scheduled`` → ``Queued``, expansion into message parts, reminders, and the
``Running → Sent → Finished`` progress.

Expansion streams recipients (``to`` ∪ contacts ∪ group members, de-duplicated by number, minus the
blacklisted), personalises each body, and writes one row per part in batches. Ids are derived from the
campaign and the number (uuid5), and rows are inserted ignoring duplicates, so an expansion interrupted
by a crash is simply run again by whichever worker takes the lease next.
"""

from __future__ import annotations

import hashlib
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
from smscast.db.messages import CampaignPartWriter, NewPart, PartValues, insert_ignoring_duplicates
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
WRITE_BATCH = 5000
LEASE = timedelta(seconds=120)


@dataclass(frozen=True, slots=True)
class _Recipient:
    number: str
    region: str
    labels: Mapping[str, str] | None
    group: str | None


class _PartIds:
    """The ids of a campaign's messages and parts: ``uuid5(ID_NAMESPACE, "<tracking id>/<number>")`` and
    ``uuid5(ID_NAMESPACE, "<message id>/<part>")``, exactly as ``uuid.uuid5`` makes them, at a quarter of
    its cost (the namespace and campaign prefix are hashed once; no UUID objects)."""

    def __init__(self, tracking_id: str) -> None:
        self._namespace = hashlib.sha1(ID_NAMESPACE.bytes, usedforsecurity=False)
        self._campaign = self._namespace.copy()
        self._campaign.update(f"{tracking_id}/".encode())

    def message(self, number: str) -> str:
        digest = self._campaign.copy()
        digest.update(number.encode())
        return _uuid5_text(digest.hexdigest())

    def part(self, message_id: str, part: int) -> str:
        digest = self._namespace.copy()
        digest.update(f"{message_id}/{part}".encode())
        return _uuid5_text(digest.hexdigest())


# The variant nibble of an RFC 4122 UUID (10xx) made from a SHA-1 hex digit.
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


def _uuid5_text(h: str) -> str:
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


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
        writer = CampaignPartWriter(
            self.db.engine.dialect,
            {
                "account_id": row.account_id,
                "application_id": row.application_id,
                "campaign_id": row.tracking_id,
                "sender": definition.sender,
                "flash": definition.flash,
                "callback": callback,
                "quiet_hours": definition.respect_quiet_hours,
                "status": MessageStatus.QUEUED.value,
                "status_date": now,
                "not_before": now,
                "created_at": now,
            },
        )
        ids = _PartIds(row.tracking_id)
        rendered: dict[str, tuple[str, int]] = {}  # personalised text → (final text, parts), bounded
        group_json: dict[str | None, str | None] = {None: None}
        pending: list[PartValues] = []
        count = 0
        for batch in self._recipient_batches(row.account_id, definition, with_labels=fixed_text is None):
            count += len(batch)
            for recipient in batch:
                number = recipient.number
                if fixed_text is not None:
                    text, parts = fixed_text, fixed_parts
                else:
                    personal = template.render(recipient.labels or {}, definition.fallback_values)
                    known = rendered.get(personal)
                    if known is None:
                        if len(rendered) >= 10_000:
                            rendered.clear()
                        final = final_text(personal, transcode)
                        known = rendered[personal] = (final, count_parts(final))
                    text, parts = known
                groups = group_json.get(recipient.group)
                if groups is None and recipient.group is not None:
                    groups = group_json[recipient.group] = json.dumps([recipient.group])
                message_id = ids.message(number)
                for part in range(1, parts + 1):
                    pending.append(
                        (
                            ids.part(message_id, part),
                            message_id,
                            part,
                            parts,
                            number,
                            recipient.region,
                            text,
                            groups,
                        )
                    )
            if len(pending) >= self.write_batch:
                self._flush(row.tracking_id, writer, pending)
                pending = []
        self._flush(row.tracking_id, writer, pending)
        return count

    def _flush(self, tracking_id: str, writer: CampaignPartWriter, rows: list[PartValues]) -> None:
        with self.db.write() as conn:
            writer.insert(conn, rows)
            CampaignEngineRepository(conn).extend_lease(tracking_id, self.clock.now() + LEASE)

    def _recipient_batches(
        self, account_id: str, definition: CampaignDefinition, *, with_labels: bool
    ) -> Iterator[list[_Recipient]]:
        """Every recipient once (by number), blacklisted ones left out, in batches: ``to``, then
        ``contacts``, then each group's members (a member of an earlier group is left to that group).

        Memory stays bounded whatever the group sizes: only the numbers of ``to`` and ``contacts`` are
        remembered; group members are distinct contacts, so distinct numbers (a mobile is unique per
        account), and overlaps between groups are asked of the database batch by batch.
        """
        numbers = validate_numbers(list(definition.to), "to")
        with self.db.read() as conn:
            contacts = ContactRepository(conn)
            known = contacts.by_mobiles(account_id, [n.e164 for n in numbers])
            seen: set[str] = set()
            direct: list[_Recipient] = []
            for number in numbers:
                if number.e164 in seen:
                    continue
                seen.add(number.e164)
                contact = known.get(number.e164)
                if contact is not None and BLACKLIST_SERVICE in contact.blacklisted_services:
                    continue
                direct.append(
                    _Recipient(number.e164, number.region, contact.labels if contact else None, None)
                )
            for contact in contacts.by_ids(account_id, list(definition.contacts)):
                if contact.mobile not in seen:
                    seen.add(contact.mobile)
                    if BLACKLIST_SERVICE not in contact.blacklisted_services:
                        direct.append(self._from_contact(contact, None))
            for start in range(0, len(direct), self.write_batch):
                yield direct[start : start + self.write_batch]
            groups = GroupRepository(conn)
            names = list(dict.fromkeys(str(n) for n in definition.groups))
            found = groups.find_by_names(account_id, names)
            earlier: list[int] = []
            for name in names:
                if name not in found:
                    continue  # deleted since the campaign was accepted
                for members in groups.iter_members(account_id, [found[name]], with_labels=with_labels):
                    skip = groups.members_among(account_id, earlier, [c.id for c in members])
                    batch = [
                        self._from_contact(contact, name)
                        for contact in members
                        if contact.mobile not in seen
                        and contact.id not in skip
                        and BLACKLIST_SERVICE not in contact.blacklisted_services
                    ]
                    if batch:
                        yield batch
                earlier.append(found[name])

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
