"""Starting campaigns: due ``Scheduled`` → ``Queued``, expansion into message parts, reminders, and the
``Running → Sent → Finished`` progress.

Expansion streams recipients (``to`` ∪ contacts ∪ group members, de-duplicated by number, minus the
blacklisted), personalises each body, and writes one row per part in batches. Each batch is committed
together with a checkpoint (how far through ``to``/``contacts`` and which group after which contact id),
so an expansion interrupted by a crash is resumed exactly there by whichever worker takes the lease next:
no recipient is written twice or skipped, and memory stays bounded whatever the group sizes. A part whose
text is the campaign's (the body is not personalised) stores NULL and the campaign stores the text once.
Part ids are time-ordered UUIDs (version 7), so inserting a million rows appends to the id indexes.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from smscast.db.accounts import AccountRepository
from smscast.db.campaigns import CampaignEngineRepository, CampaignRepository, CampaignRow
from smscast.db.contacts import ContactRepository
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


# A recipient: (number, region, labels or None, group name or None).
_Recipient = tuple[str, str, Mapping[str, str] | None, str | None]


@dataclass(frozen=True, slots=True)
class _Position:
    """Where an expansion stands: ``direct`` of the ``to`` numbers and ``contacts`` (in the definition's
    order) done; then ``group`` (an index into the definition's groups) done up to contact id ``after``."""

    direct: int = 0
    group: int = 0
    after: str = ""

    def checkpoint(self, count: int) -> str:
        return json.dumps({"direct": self.direct, "group": self.group, "after": self.after, "count": count})

    @staticmethod
    def parse(text: str | None) -> tuple[_Position, int]:
        """The position and the number of recipients written so far, from a stored checkpoint."""
        if not text:
            return _Position(), 0
        data = json.loads(text)
        return _Position(int(data["direct"]), int(data["group"]), str(data["after"])), int(data["count"])


class _TimeOrderedIds:
    """Ids for new parts: UUID version 7 (a millisecond timestamp, then random bits) taken from one random
    starting point and counting up, so ids increase within an expansion and from one expansion to the next,
    and index inserts append instead of scattering over the whole index."""

    def __init__(self) -> None:
        self._prefix = ""
        self._counter = 0
        self._restart()

    def _restart(self) -> None:
        millis = time.time_ns() // 1_000_000
        # version 7 | 12 random bits | variant 10 | 30 random bits | 32-bit counter (the last 8 hex digits)
        start = (millis << 80) | (0x7 << 76) | (secrets.randbits(12) << 64) | (0b10 << 62)
        h = f"{start | (secrets.randbits(30) << 32):032x}"
        self._prefix = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:24]}"
        self._counter = 0

    def take(self) -> str:
        counter = self._counter
        if counter > 0xFFFFFFFF:  # after 4 billion ids: a fresh random starting point
            self._restart()
            counter = 0
        self._counter = counter + 1
        return f"{self._prefix}{counter:08x}"


class _Pipeline:
    """Runs the expansion's writes in order on a thread of their own, at most ``depth`` behind the reading
    and row building (the database works on one batch while Python prepares the next: the drivers release
    the GIL while the database works). ``finish`` waits for every write and raises the first failure."""

    def __init__(self, depth: int) -> None:
        self._depth = depth
        self._failed = False
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[None]] = deque()

    def submit(self, write: Callable[..., None], *args: Any) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smscast-expand")
        while len(self._pending) >= self._depth:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._run, write, *args))

    def _run(self, write: Callable[..., None], *args: Any) -> None:
        # Writes run one at a time, in order, on the pool's single thread: once one failed, none after it
        # may commit (its checkpoint would skip the failed batch's recipients).
        if self._failed:
            raise RuntimeError("an earlier write of this expansion failed")
        try:
            write(*args)
        except BaseException:
            self._failed = True
            raise

    def finish(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            for future in self._pending:
                future.cancel()
            if self._pool is not None:
                self._pool.shutdown(wait=True)

    def abandon(self) -> None:
        """Drop the writes not begun yet and wait for the one running (each write is consistent on its
        own: parts and checkpoint commit together)."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)


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
        # Called after each committed batch of parts: wakes this process's dispatchers (engine/nudge.py).
        self.on_parts_written: Callable[[], None] = lambda: None

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
            stored = CampaignEngineRepository(conn).expansion_checkpoint(row.tracking_id)
        position, count = _Position.parse(stored)
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
        with self.db.write() as conn:
            # The parts of a campaign that is not personalised store NULL and read the text from here.
            CampaignEngineRepository(conn).set_message_body(row.tracking_id, fixed_text)
        ids = _TimeOrderedIds()
        rendered: dict[str, tuple[str, int]] = {}  # personalised text → (final text, parts), bounded
        group_json: dict[str | None, str | None] = {None: None}
        pending: list[PartValues] = []
        flushes = _Pipeline(depth=2)
        batches = self._recipient_batches(
            row.account_id, definition, position, with_labels=fixed_text is None
        )
        try:
            for batch, position in batches:
                count += len(batch)
                for number, region, labels, group in batch:
                    if fixed_text is not None:
                        text, parts = None, fixed_parts
                    else:
                        personal = template.render(labels or {}, definition.fallback_values)
                        known = rendered.get(personal)
                        if known is None:
                            if len(rendered) >= 10_000:
                                rendered.clear()
                            final = final_text(personal, transcode)
                            known = rendered[personal] = (final, count_parts(final))
                        text, parts = known
                    groups = group_json.get(group)
                    if groups is None and group is not None:
                        groups = group_json[group] = json.dumps([group])
                    message_id = ids.take()
                    for part in range(1, parts + 1):
                        pending.append((ids.take(), message_id, part, parts, number, region, text, groups))
                if len(pending) >= self.write_batch:
                    flushes.submit(self._flush, row.tracking_id, writer, pending, position.checkpoint(count))
                    pending = []
            flushes.submit(self._flush, row.tracking_id, writer, pending, position.checkpoint(count))
            flushes.finish()
        except BaseException:
            flushes.abandon()  # no write may land after the caller marks the campaign Failed
            raise
        return count

    def _flush(
        self, tracking_id: str, writer: CampaignPartWriter, rows: list[PartValues], checkpoint: str
    ) -> None:
        with self.db.write() as conn:
            writer.insert(conn, rows)
            CampaignEngineRepository(conn).extend_lease(tracking_id, self.clock.now() + LEASE, checkpoint)
        self.on_parts_written()

    def _recipient_batches(
        self, account_id: str, definition: CampaignDefinition, start: _Position, *, with_labels: bool
    ) -> Iterator[tuple[list[_Recipient], _Position]]:
        """Every recipient once (by number), blacklisted ones left out, in batches from ``start``, each with
        the position after it: ``to``, then ``contacts``, then each group's members (a member of an earlier
        group is left to that group).

        Memory stays bounded whatever the group sizes: only the numbers of ``to`` and ``contacts`` are
        remembered; group members are distinct contacts, so distinct numbers (a mobile is unique per
        account), and overlaps between groups are asked of the database batch by batch. Each read is a
        short transaction of its own.
        """
        numbers = validate_numbers(list(definition.to), "to")
        with self.db.read() as conn:
            contacts = ContactRepository(conn)
            known = contacts.by_mobiles(account_id, [n.e164 for n in numbers])
            chosen = {c.id: c for c in contacts.by_ids(account_id, list(definition.contacts))}
            names = list(dict.fromkeys(str(n) for n in definition.groups))
            found = GroupRepository(conn).find_by_names(account_id, names)
        # (number, region, labels, blacklisted) per entry of `to` then `contacts`; None: a deleted contact.
        direct: list[tuple[str, str, Mapping[str, str] | None, bool] | None] = []
        for number in numbers:
            contact = known.get(number.e164)
            blocked = contact is not None and BLACKLIST_SERVICE in contact.blacklisted_services
            direct.append((number.e164, number.region, contact.labels if contact else None, blocked))
        for contact_id in definition.contacts:
            contact = chosen.get(contact_id)
            if contact is None:
                direct.append(None)
                continue
            blocked = BLACKLIST_SERVICE in contact.blacklisted_services
            region = contact.country or region_of(contact.mobile)
            direct.append((contact.mobile, region, contact.labels, blocked))
        seen: set[str] = set()
        batch: list[_Recipient] = []
        for index, entry in enumerate(direct):
            if entry is None or entry[0] in seen:
                continue
            seen.add(entry[0])
            if index >= start.direct and not entry[3]:
                batch.append((entry[0], entry[1], entry[2], None))
                if len(batch) >= self.write_batch:
                    yield batch, _Position(index + 1)
                    batch = []
        yield batch, _Position(len(direct))
        for index, name in enumerate(names):
            if index < start.group or name not in found:
                continue  # done before, or deleted since the campaign was accepted
            after = start.after if index == start.group else ""
            earlier = [found[n] for n in names[:index] if n in found]
            while True:
                with self.db.read() as conn:
                    groups = GroupRepository(conn)
                    members = groups.members_after(
                        account_id,
                        found[name],
                        after,
                        self.write_batch,
                        service=BLACKLIST_SERVICE,
                        with_labels=with_labels,
                    )
                    skip = groups.members_among(account_id, earlier, [m[0] for m in members])
                if not members:
                    break
                after = members[-1][0]
                yield (
                    [
                        (mobile, country or region_of(mobile), labels, name)
                        for contact_id, mobile, country, blocked, labels in members
                        if not blocked and mobile not in seen and contact_id not in skip
                    ],
                    _Position(len(direct), index, after),
                )
                if len(members) < self.write_batch:
                    break
            yield [], _Position(len(direct), index + 1)

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
