"""The pieces of a campaign's expansion (``CampaignStarter._expand``): where it stands (the checkpoint), the
time-ordered ids of its parts, the write-behind pipeline of rows built in Python, and the recipients as
Python reads them (``to`` and ``contacts``; and group members when the body is personalised: otherwise
the database writes the members' parts itself, ``db.expansion``).
"""

from __future__ import annotations

import bisect
import json
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smscast.db.database import Database
from smscast.db.groups import GroupRepository
from smscast.db.recipients import ContactRecord, RecipientRepository
from smscast.domain.analysis import final_text
from smscast.domain.campaigns import CampaignDefinition
from smscast.domain.numbers import region_of, validate_regions
from smscast.domain.personalisation import compile_template
from smscast.domain.segmentation import count_parts
from smscast.domain.statuses import MessageStatus

BLACKLIST_SERVICE = "Sms"

# A recipient: (number, region, labels or None, group name or None).
Recipient = tuple[str, str, Mapping[str, str] | None, str | None]


@dataclass(frozen=True, slots=True)
class Position:
    """Where an expansion stands: ``direct`` of the ``to`` numbers and ``contacts`` (in the definition's
    order) done; then ``group`` (an index into the definition's groups) done up to contact id ``after``."""

    direct: int = 0
    group: int = 0
    after: str = ""

    def checkpoint(self, count: int) -> str:
        return json.dumps({"direct": self.direct, "group": self.group, "after": self.after, "count": count})

    @staticmethod
    def parse(text: str | None) -> tuple[Position, int]:
        """The position and the number of recipients written so far, from a stored checkpoint."""
        if not text:
            return Position(), 0
        data = json.loads(text)
        return Position(int(data["direct"]), int(data["group"]), str(data["after"])), int(data["count"])


def shared_values(
    account_id: str, application_id: str, tracking_id: str, definition: CampaignDefinition, now: datetime
) -> dict[str, Any]:
    """The column values every part of the campaign has (``CampaignPartWriter``'s shared columns)."""
    callback = json.dumps(definition.callback.to_json()) if definition.callback else None
    return {
        "account_id": account_id,
        "application_id": application_id,
        "campaign_id": tracking_id,
        "sender": definition.sender,
        "flash": definition.flash,
        "callback": callback,
        "quiet_hours": definition.respect_quiet_hours,
        "status": MessageStatus.QUEUED.value,
        "status_date": now,
        "not_before": now,
        "created_at": now,
    }


class TimeOrderedIds:
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

    def reserve(self, count: int) -> tuple[str, int]:
        """``count`` consecutive ids for the database to make: (the prefix, the first counter value); the
        ids are the prefix followed by the counter as 8 hex digits."""
        if self._counter + count > 0x100000000:
            self._restart()
        first = self._counter
        self._counter += count
        return self._prefix, first


class WritePipeline:
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


@dataclass(frozen=True, slots=True)
class GroupToExpand:
    """A group of the campaign still to expand: its ``index`` in the definition, where to start in it
    (``after`` a contact id), and the ids of the campaign's groups before it (their members are theirs)."""

    index: int
    name: str
    group_id: int
    after: str
    earlier: tuple[int, ...]


def growing(first: int) -> Iterator[int]:
    """The sizes of an expansion's successive writes before their cap: ``first``, then four times the last
    one. A small first write makes the first parts claimable at once (it waits for nothing but itself);
    the larger later ones keep the cost per write low."""
    size = max(first, 1)
    while True:
        yield size
        size = min(size * 4, 1 << 30)


class Recipients:
    """A campaign's recipients: every one once (by number), blacklisted ones left out: ``to``, then
    ``contacts``, then each group's members (a member of an earlier group is left to that group).

    Memory stays bounded whatever the group sizes: only the numbers of ``to`` and ``contacts`` are
    remembered (``seen``); group members are distinct contacts, so distinct numbers (a mobile is unique
    per account), and overlaps between groups are asked of the database batch by batch. Each read is a
    short transaction of its own; the contacts of ``to`` numbers (labels, blacklisted) are read a batch at
    a time, when the batch is written, so the first batch waits for nothing but itself.
    """

    def __init__(self, db: Database, account_id: str, definition: CampaignDefinition, batch: int) -> None:
        self._db = db
        self._account_id = account_id
        self._batch = batch
        to = list(definition.to)
        regions = validate_regions(to, "to")
        with db.read() as conn:
            self._chosen = {
                c.id: c for c in RecipientRepository(conn).by_ids(account_id, list(definition.contacts))
            }
            self.names = list(dict.fromkeys(str(n) for n in definition.groups))
            self.found = GroupRepository(conn).find_by_names(account_id, self.names)
        # Number and region per entry of `to` then `contacts` (None: a contact deleted since).
        numbers: list[str | None] = list(to)
        self._to_count = len(to)
        for contact_id in definition.contacts:
            contact = self._chosen.get(contact_id)
            numbers.append(None if contact is None else contact.mobile)
            regions.append("" if contact is None else contact.country or region_of(contact.mobile))
        self._numbers = numbers
        self._regions = regions
        self._contact_ids = definition.contacts
        self.direct_count = len(numbers)
        #: Every number of ``to`` and ``contacts`` (blacklisted ones too): group members with one of them
        #: are recipients already (or blacklisted: the same contact).
        self.seen: dict[str, None] = dict.fromkeys(n for n in numbers if n is not None)
        self._first: Sequence[int]  # the index of each number's first entry, ascending
        if len(self.seen) == len(numbers):
            self._first = range(len(numbers))
        else:
            firsts: dict[str, int] = {}
            for index, number in enumerate(numbers):
                if number is not None and number not in firsts:
                    firsts[number] = index
            self._first = sorted(firsts.values())

    def _windows(self, start: Position, sizes: Iterator[int]) -> Iterator[tuple[Sequence[int], Position]]:
        """The indexes of the first entries of numbers from ``start``, ``next(sizes)`` at a time, each with
        the position after it; the last window (maybe empty) has the position after every direct entry."""
        first = self._first
        at = bisect.bisect_left(first, start.direct)
        while True:
            size = next(sizes)
            window = first[at : at + size]
            at += len(window)
            if at >= len(first):
                yield window, Position(self.direct_count)
                return
            yield window, Position(window[-1] + 1)

    def direct_by_country(
        self, start: Position, sizes: Iterator[int]
    ) -> Iterator[tuple[dict[str, list[str]], Position]]:
        """The numbers of ``to`` and ``contacts`` from ``start`` (each once, blacklisted ones included: the
        database leaves them out, ``DirectPartInserter``) grouped by region, a window at a time, each with
        the position after it."""
        numbers, regions = self._numbers, self._regions
        for window, position in self._windows(start, sizes):
            by_region: dict[str, list[str]] = {}
            for index in window:
                number = numbers[index]
                assert number is not None  # a first entry has a number
                listed = by_region.get(regions[index])
                if listed is None:
                    by_region[regions[index]] = [number]
                else:
                    listed.append(number)
            yield by_region, position

    def direct_batches(
        self, start: Position, sizes: Iterator[int]
    ) -> Iterator[tuple[list[Recipient], Position]]:
        """The recipients of ``to`` and ``contacts`` from ``start`` with their labels, blacklisted ones left
        out, in batches, each with the position after it; the last batch (maybe empty) has the position
        after every direct entry."""
        numbers, regions, to_count = self._numbers, self._regions, self._to_count
        for window, position in self._windows(start, (min(size, self._batch) for size in sizes)):
            asked = [number for i in window if i < to_count and (number := numbers[i]) is not None]
            known: Mapping[str, ContactRecord] = {}
            if asked:
                with self._db.read() as conn:
                    known = RecipientRepository(conn).by_mobiles(self._account_id, asked)
            batch: list[Recipient] = []
            for index in window:
                number = numbers[index]
                assert number is not None  # a first entry has a number
                if index < to_count:
                    contact = known.get(number)
                else:
                    contact = self._chosen[self._contact_ids[index - to_count]]
                if contact is not None and BLACKLIST_SERVICE in contact.blacklisted_services:
                    continue
                batch.append((number, regions[index], contact.labels if contact else None, None))
            yield batch, position

    def groups(self, start: Position) -> Iterator[GroupToExpand]:
        """The groups left to expand from ``start``, in the definition's order (deleted ones skipped)."""
        for index, name in enumerate(self.names):
            if index < start.group or name not in self.found:
                continue  # done before, or deleted since the campaign was accepted
            yield GroupToExpand(
                index,
                name,
                self.found[name],
                start.after if index == start.group else "",
                tuple(self.found[n] for n in self.names[:index] if n in self.found),
            )

    def group_batches(
        self, start: Position, *, with_labels: bool
    ) -> Iterator[tuple[list[Recipient], Position]]:
        """The group members from ``start``, read and filtered in Python, in batches, each with the
        position after it."""
        for group in self.groups(start):
            after = group.after
            while True:
                with self._db.read() as conn:
                    repo = GroupRepository(conn)
                    members = repo.members_after(
                        self._account_id,
                        group.group_id,
                        after,
                        self._batch,
                        service=BLACKLIST_SERVICE,
                        with_labels=with_labels,
                    )
                    skip = repo.members_among(self._account_id, group.earlier, [m[0] for m in members])
                if not members:
                    break
                after = members[-1][0]
                yield (
                    [
                        (mobile, country or region_of(mobile), labels, group.name)
                        for contact_id, mobile, country, blocked, labels in members
                        if not blocked and mobile not in self.seen and contact_id not in skip
                    ],
                    Position(self.direct_count, group.index, after),
                )
                if len(members) < self._batch:
                    break
            yield [], Position(self.direct_count, group.index + 1)


class PartTexts:
    """Each recipient's text and number of parts. A body that is not personalised has one ``fixed`` text
    (the campaign stores it once; its parts store NULL); a personalised one is rendered per recipient,
    each distinct result analysed once (a bounded cache)."""

    def __init__(self, body: str, fallback_values: Mapping[str, str], transcode: bool) -> None:
        self._template = compile_template(body)
        self._fallback = fallback_values
        self._transcode = transcode
        self.fixed = None if self._template.is_personalised else final_text(body, transcode)
        self.fixed_parts = count_parts(self.fixed) if self.fixed is not None else 0
        self._rendered: dict[str, tuple[str, int]] = {}

    def of(self, labels: Mapping[str, str] | None) -> tuple[str | None, int]:
        """(the part's ``body`` value — ``None`` for the fixed text —, the number of parts)."""
        if self.fixed is not None:
            return None, self.fixed_parts
        personal = self._template.render(labels or {}, self._fallback)
        known = self._rendered.get(personal)
        if known is None:
            if len(self._rendered) >= 10_000:
                self._rendered.clear()
            final = final_text(personal, self._transcode)
            known = self._rendered[personal] = (final, count_parts(final))
        return known
