"""Starting campaigns: due ``Scheduled`` → ``Queued``, expansion into message parts, reminders, and the
``Running → Sent → Finished`` progress.

Expansion writes one row per part for every recipient (``to`` ∪ contacts ∪ group members, de-duplicated
by number, minus the blacklisted), in batches. Each batch is committed together with a checkpoint (how far
through ``to``/``contacts`` and which group after which contact id), so an expansion interrupted by a crash
is resumed exactly there by whichever worker takes the lease next: no recipient is written twice or
skipped, and memory stays bounded whatever the group sizes. When the body is personalised the rows are
built in Python. Otherwise every part has the campaign's text (stored once; the parts store NULL) and the
database writes the parts of a chunk of recipients with one ``INSERT … SELECT`` (``db.expansion``,
docs/adr/0005): the numbers of ``to`` and ``contacts`` passed as one parameter per country, group members
read by the statement itself. The first write is small, so dispatchers have parts to claim a few
milliseconds after the start, and the writes grow from there to a cap (on SQLite, whose single writer
the dispatchers wait for, a cap of ~30 ms per write). Part ids are time-ordered UUIDs (version 7), so
inserting a million rows appends to the id indexes.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta

import orjson

from smscast.db.accounts import AccountRepository
from smscast.db.campaigns import CampaignEngineRepository, CampaignRepository, ExpansionClaim
from smscast.db.database import Database
from smscast.db.expansion import DirectPartInserter, GroupPartInserter, part_ids
from smscast.db.messages import CampaignPartWriter, PartValues
from smscast.domain.campaigns import CampaignDefinition, CampaignState
from smscast.domain.clock import Clock
from smscast.domain.numbers import region_of
from smscast.domain.statuses import MessageStatus
from smscast.services.callbacks import CallbackPlanner
from smscast.services.campaign_expansion import (
    BLACKLIST_SERVICE,
    GroupToExpand,
    PartTexts,
    Position,
    Recipient,
    Recipients,
    TimeOrderedIds,
    WritePipeline,
    growing,
    shared_values,
)
from smscast.services.kept_parts import DirectKeeping, GroupKeeping, PartKeeper, RowKeeping
from smscast.services.reminders import send_due_reminders, store_missing_moments

log = logging.getLogger("smscast.campaigns")

#: At most this many recipients per write of ``to`` and ``contacts`` (one transaction each), and group
#: members per ``INSERT … SELECT`` of the in-database expansion (docs/adr/0005): (PostgreSQL, SQLite).
#: SQLite has one writer, which dispatchers wait for while a write lasts: its writes are kept to ~30 ms.
WRITE_BATCH = {"postgresql": 5000, "sqlite": 2000}
GROUP_CHUNK = {"postgresql": 20_000, "sqlite": 5000}
#: Recipients of an expansion's first write; each write after it may be four times the last, up to the
#: caps above (``growing``): the first parts are claimable a few milliseconds after the start.
FIRST_CHUNK = 500
LEASE = timedelta(seconds=120)


class CampaignStarter:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        write_batch: int | None = None,
        group_chunk: int | None = None,
        first_chunk: int = FIRST_CHUNK,
        in_database: bool = True,
        callbacks: CallbackPlanner | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        kind = "sqlite" if db.is_sqlite else "postgresql"
        self.write_batch = write_batch or WRITE_BATCH[kind]
        self.group_chunk = group_chunk or GROUP_CHUNK[kind]
        self.first_chunk = first_chunk
        # False: group members' parts are built in Python even when the body is not personalised (tests
        # compare both ways).
        self.in_database = in_database
        self.callbacks = callbacks or CallbackPlanner()
        # Called after each committed batch of parts: wakes this process's dispatchers (engine/nudge.py).
        self.on_parts_written: Callable[[], None] = lambda: None
        # The dispatchers of this process, when it runs them: the parts it writes are kept for them
        # (services/kept_parts.py).
        self.keeper: PartKeeper | None = None
        self._moments_checked = False

    def start_due(self) -> int:
        """Move every due ``Scheduled`` campaign to ``Queued``; returns how many."""
        now = self.clock.now()
        with self.db.write() as conn:
            started = CampaignRepository(conn).start_due(now)
            for tracking_id in started:
                self.callbacks.campaign_changed(conn, tracking_id, now, state_changed=True)
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
                    tracking_id, [MessageStatus.QUEUED.value]
                ):
                    state = CampaignState.SENT
                    moves.append((tracking_id, state))
                if state is CampaignState.SENT and not repo.open_parts(
                    tracking_id, [MessageStatus.QUEUED.value, MessageStatus.SENT.value]
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
        """Test SMS to the reminder numbers ``minutesBefore`` the scheduled send and ``minutesAfter`` it
        (services/reminders.py). The first call stores the due moments that a process of the previous
        version did not (`store_missing_moments`)."""
        if not self._moments_checked:
            store_missing_moments(self.db)
            self._moments_checked = True
        return send_due_reminders(self.db, self.clock.now())

    # --- internals ---------------------------------------------------------------------------------

    def _expand(self, row: ExpansionClaim) -> int:
        definition = CampaignDefinition.from_json(orjson.loads(row.definition))
        with self.db.read() as conn:
            account = AccountRepository(conn).get(row.account_id)
            stored = CampaignEngineRepository(conn).expansion_checkpoint(row.tracking_id)
        position, count = Position.parse(stored)
        transcode = definition.transcode
        if transcode is None:
            transcode = bool(account and account.enforce_transcoding)
        texts = PartTexts(definition.body, definition.fallback_values, transcode)
        shared = shared_values(
            row.account_id, row.application_id, row.tracking_id, definition, self.clock.now()
        )
        writer = CampaignPartWriter(self.db.engine.dialect, shared)
        with self.db.write() as conn:
            # The parts of a campaign that is not personalised store NULL and read the text from here.
            CampaignEngineRepository(conn).set_message_body(row.tracking_id, texts.fixed)
        ids = TimeOrderedIds()
        recipients = Recipients(self.db, row.account_id, definition, self.write_batch)
        direct_left = position.direct < recipients.direct_count  # else done before: no write may move it back
        if not (self.in_database and texts.fixed is not None):
            batches: Iterator[tuple[list[Recipient], Position]] = iter(())
            if direct_left:
                batches = recipients.direct_batches(position, growing(self.first_chunk))
            batches = itertools.chain(
                batches, recipients.group_batches(position, with_labels=texts.fixed is None)
            )
            rows_kept = None
            if self.keeper is not None:
                rows_kept = RowKeeping(self.keeper, shared, texts.fixed or "", 0, self.clock.now())
            return self._write_from_python(row, writer, texts, ids, batches, count, rows_kept)
        # The body is not personalised: the database writes the parts (docs/adr/0005), a chunk per
        # transaction, the chunks growing from a small first one (``growing``).
        sizes = growing(self.first_chunk)
        if direct_left:
            direct = DirectPartInserter(
                self.db.engine.dialect,
                row.account_id,
                service=BLACKLIST_SERVICE,
                parts=texts.fixed_parts,
                shared=shared,
            )
            chunks = recipients.direct_by_country(position, (min(n, self.write_batch) for n in sizes))
            keeping = None
            if self.keeper is not None and texts.fixed is not None:
                keeping = DirectKeeping(self.keeper, shared, texts.fixed, texts.fixed_parts, self.clock.now())
            count = self._write_direct(row, direct, ids, chunks, count, keeping)
        group_keeping = None
        if self.keeper is not None and texts.fixed is not None:
            group_keeping = GroupKeeping(
                self.keeper, shared, texts.fixed, texts.fixed_parts, self.clock.now()
            )
        for group in recipients.groups(position):
            inserter = GroupPartInserter(
                self.db.engine.dialect,
                row.account_id,
                group.group_id,
                earlier=group.earlier,
                excluded=list(recipients.seen),
                service=BLACKLIST_SERVICE,
                parts=texts.fixed_parts,
                groups=json.dumps([group.name]),
                shared=shared,
            )
            count = self._write_in_database(
                row, writer, inserter, ids, group, recipients, count, sizes, group_keeping
            )
        return count

    def _write_direct(
        self,
        row: ExpansionClaim,
        inserter: DirectPartInserter,
        ids: TimeOrderedIds,
        chunks: Iterator[tuple[dict[str, list[str]], Position]],
        count: int,
        keeping: DirectKeeping | None,
    ) -> int:
        """The parts of ``to`` and ``contacts``, written by the database a chunk at a time (one statement
        per country of the chunk), each chunk in one transaction with its checkpoint (and, when ``keeping``
        keeps it, the charge of its parts); returns the count of recipients so far."""
        for by_region, position in chunks:
            now = self.clock.now()
            if keeping is not None:
                keeping.start_chunk(by_region, now)
            with self.db.write(background=True) as conn:
                for country, numbers in by_region.items():
                    prefix, first = ids.reserve(len(numbers) * (inserter.parts + 1))
                    kept = keeping.kept_columns(country) if keeping is not None else None
                    written = inserter.insert(conn, numbers, country, prefix, first, kept)
                    if keeping is not None:
                        keeping.written(conn, numbers, country, prefix, first, written)
                    count += written
                if keeping is not None:
                    keeping.charge(conn, row.account_id, row.tracking_id, now)
                CampaignEngineRepository(conn).extend_lease(
                    row.tracking_id, self.clock.now() + LEASE, position.checkpoint(count)
                )
            if keeping is not None:
                keeping.hand_over()
            self.on_parts_written()
        return count

    def _write_from_python(
        self,
        row: ExpansionClaim,
        writer: CampaignPartWriter,
        texts: PartTexts,
        ids: TimeOrderedIds,
        batches: Iterator[tuple[list[Recipient], Position]],
        count: int,
        keeping: RowKeeping | None,
    ) -> int:
        """Builds the rows of ``batches`` in Python and writes them one batch behind (``WritePipeline``),
        each write with the checkpoint after it (and, when ``keeping`` keeps it, the charge of its parts);
        returns the count of recipients so far."""
        group_json: dict[str | None, str | None] = {None: None}
        limits = (min(n, self.write_batch) for n in growing(self.first_chunk))
        limit = next(limits)
        pending: list[PartValues] = []
        position: Position | None = None
        flushes = WritePipeline(depth=2)
        try:
            for batch, position in batches:
                count += len(batch)
                for number, region, labels, group in batch:
                    text, parts = texts.of(labels)
                    groups = group_json.get(group)
                    if groups is None and group is not None:
                        groups = group_json[group] = json.dumps([group])
                    message_id = ids.take()
                    for part in range(1, parts + 1):
                        pending.append((ids.take(), message_id, part, parts, number, region, text, groups))
                if len(pending) >= limit:
                    flushes.submit(self._flush, row, writer, pending, position.checkpoint(count), keeping)
                    pending = []
                    limit = next(limits)
            if position is not None:
                flushes.submit(self._flush, row, writer, pending, position.checkpoint(count), keeping)
            flushes.finish()
        except BaseException:
            flushes.abandon()  # no write may land after the caller marks the campaign Failed
            raise
        return count

    def _flush(
        self,
        row: ExpansionClaim,
        writer: CampaignPartWriter,
        rows: list[PartValues],
        checkpoint: str,
        keeping: RowKeeping | None,
    ) -> None:
        now = self.clock.now()
        kept = keeping is not None and keeping.start_chunk(rows, now)
        with self.db.write(background=True) as conn:
            if keeping is not None and kept:
                for shared, country_rows in keeping.by_country(rows):
                    CampaignPartWriter(conn.dialect, shared).insert(conn, country_rows, durable=True)
                keeping.charge(conn, row.account_id, row.tracking_id, now)
            else:
                writer.insert(conn, rows)
            CampaignEngineRepository(conn).extend_lease(row.tracking_id, self.clock.now() + LEASE, checkpoint)
        if keeping is not None:
            keeping.hand_over()
        self.on_parts_written()

    def _write_in_database(
        self,
        row: ExpansionClaim,
        writer: CampaignPartWriter,
        inserter: GroupPartInserter,
        ids: TimeOrderedIds,
        group: GroupToExpand,
        recipients: Recipients,
        count: int,
        sizes: Iterator[int],
        keeping: GroupKeeping | None,
    ) -> int:
        """The parts of one group's members, written by the database a chunk at a time, each chunk in one
        transaction with its checkpoint (members without a stored country are placed here and written
        through ``writer``, with the ids the database would have given them; and, when ``keeping`` keeps
        the chunk, the charge of the parts the database wrote); returns the count so far."""
        after = group.after
        while True:
            size = min(next(sizes), self.group_chunk)
            now = self.clock.now()
            if keeping is not None:
                keeping.start_chunk(size, now)
            with self.db.write(background=True) as conn:
                upto = inserter.chunk_end(conn, after, size)
                parts = inserter.parts
                prefix, first = ids.reserve(size * (parts + 1))
                placed = inserter.without_country(conn, after, upto, size)
                kept = keeping.kept_columns() if keeping is not None else None
                count += inserter.insert(conn, after, upto, size, prefix, first, kept)
                if keeping is not None:
                    keeping.written(conn, prefix, first, size * (parts + 1))
                rows: list[PartValues] = []
                for rn, mobile in placed:
                    message_id, sms_ids = part_ids(prefix, first, rn, parts)
                    region = region_of(mobile)
                    for part, sms_id in enumerate(sms_ids, 1):
                        rows.append((sms_id, message_id, part, parts, mobile, region, None, inserter.groups))
                writer.insert(conn, rows)
                count += len(placed)
                done = (
                    Position(recipients.direct_count, group.index + 1)
                    if upto is None
                    else Position(recipients.direct_count, group.index, upto)
                )
                if keeping is not None:
                    keeping.charge(conn, row.account_id, row.tracking_id, now)
                CampaignEngineRepository(conn).extend_lease(
                    row.tracking_id, self.clock.now() + LEASE, done.checkpoint(count)
                )
            if keeping is not None:
                keeping.hand_over()
            self.on_parts_written()
            if upto is None:
                return count
            after = upto
