"""Parts the expansion of this process keeps for its own dispatchers (docs/adr/0009).

A campaign's expansion writes its parts; a dispatcher then claims them: a lease on each row, a price and a
charge, and the row read back. When the expansion runs in a process that runs dispatchers too, that round
is wasted work: the expansion knows every part it writes. So, up to `KeptParts.limit` parts at a time, it
writes its chunks (``to`` and ``contacts``, `DirectKeeping`; group members, `GroupKeeping`; rows built in
Python for a personalised body, `RowKeeping`) *kept*: already leased to this process (``lease_until``,
``attempts`` 1) and priced, the account charged in the same transaction, exactly what a claim would have
left. The parts go straight into this process's `KeptParts`, which a dispatcher's `claim` empties before it
asks the database.

Nothing else changes: a kept part is a claimed part. If the process dies, its kept parts are due again
when their lease ends and are never charged twice (their price is set). A kept part not taken within half
a lease (a slow carrier) is released: its lease is cleared so that any dispatcher may claim it, and it stays
priced. A campaign whose parts may be held for quiet hours is not kept (the claim decides that), nor a chunk
the balance does not cover (its parts are claimed, and those the balance cannot pay end ``Unsent``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from smscast.db.accounts import AccountRepository
from smscast.db.dispatch import ClaimedPart
from smscast.db.expansion import (
    Kept,
    KeptByCountry,
    kept_rows,
    numbered_parts,
    release_kept,
    written_part_ids,
)
from smscast.db.messages import PartValues
from smscast.db.types import MICROS
from smscast.domain.pricing import FALLBACK_ISO, NoPrice, PriceList

#: Part ids under one lease, with that lease's end.
Leased = tuple[datetime, list[str]]
#: At most this many kept parts wait in a process (~20,000 parts: about a second of a fast SMSC's work).
KEPT_LIMIT = 20_000
#: And at most what this process sends in this long: in a fleet the other workers claim the rest, so a
#: slow carrier (a ``tps``, a small window) does not leave them idle while one worker sends a campaign.
HORIZON_S = 2.0
#: How the process's sending rate is observed, without a ``tps``: the parts taken over at least the first
#: and at most the second of these many seconds.
RATE_SPAN_S = (1.0, 5.0)


class KeptParts:
    """Kept parts waiting for a dispatcher of this process, in the order written, with the lease they were
    written under. Thread-safe: the expansion puts from its thread, dispatchers take from theirs.

    At most `limit` parts, and at most what the process sends in `HORIZON_S`: at ``rate`` (its carrier's
    ``tps``) when it has one, else at the rate its dispatchers have been taking parts since kept parts
    last ran out (once observed for a second). Parts kept beyond that are handed back by `take` for
    release (the newest first)."""

    def __init__(self, limit: int = KEPT_LIMIT, rate: float | None = None) -> None:
        self.limit = limit
        self.rate = rate
        self._lock = threading.Lock()
        self._batches: deque[tuple[datetime, list[ClaimedPart]]] = deque()  # (lease until, parts)
        self._count = 0
        self._takes: deque[tuple[float, int]] = deque()  # (monotonic time, parts taken)

    def __len__(self) -> int:
        return self._count

    def room(self) -> int:
        """How many more parts may be kept now."""
        with self._lock:
            return max(0, self._allowed(time.monotonic()) - self._count)

    def _allowed(self, now: float) -> int:
        rate = self.rate if self.rate is not None else self._observed(now)
        return self.limit if rate is None else min(self.limit, int(rate * HORIZON_S))

    def _observed(self, now: float) -> float | None:
        """Parts taken per second lately, once there is a second of history to tell."""
        takes, (least, most) = self._takes, RATE_SPAN_S
        while takes and takes[0][0] < now - most:
            takes.popleft()
        if not takes or now - takes[0][0] < least:
            return None
        return sum(count for _, count in takes) / (now - takes[0][0])

    def put(self, parts: list[ClaimedPart], lease_until: datetime) -> None:
        if parts:
            with self._lock:
                self._batches.append((lease_until, parts))
                self._count += len(parts)

    def take(self, limit: int, fresh_after: datetime) -> tuple[list[ClaimedPart], list[Leased]]:
        """Up to ``limit`` parts whose lease ends after ``fresh_after``; and the ids, by lease, of the parts
        to release: those met on the way whose lease ends sooner (stale), and the newest beyond what the
        process sends in `HORIZON_S`."""
        taken: list[ClaimedPart] = []
        stale: list[Leased] = []
        with self._lock:
            batches = self._batches
            while batches and len(taken) < limit:
                lease_until, parts = batches[0]
                if lease_until <= fresh_after:
                    stale.append((lease_until, [part.sms_id for part in parts]))
                    self._count -= len(parts)
                    batches.popleft()
                    continue
                wanted = limit - len(taken)
                if len(parts) <= wanted:
                    taken.extend(parts)
                    batches.popleft()
                else:
                    taken.extend(parts[:wanted])
                    batches[0] = (lease_until, parts[wanted:])
            self._count -= len(taken)
            now = time.monotonic()
            if not self._count:  # none left: the next ones are sent at whatever rate they find
                self._takes.clear()
            elif taken:
                self._takes.append((now, len(taken)))
            excess = self._count - self._allowed(now)
            while excess > 0 and batches:
                lease_until, parts = batches[-1]
                cut = min(excess, len(parts))
                stale.append((lease_until, [part.sms_id for part in parts[-cut:]]))
                if cut == len(parts):
                    batches.pop()
                else:
                    batches[-1] = (lease_until, parts[:-cut])
                self._count -= cut
                excess -= cut
        return taken, stale

    def drain(self) -> list[Leased]:
        """The ids of every part still waiting, by lease (the process is stopping: for the caller to
        release)."""
        with self._lock:
            leased = [(lease_until, [part.sms_id for part in parts]) for lease_until, parts in self._batches]
            self._batches.clear()
            self._count = 0
        return leased


class PartKeeper(Protocol):
    """What an expansion needs from the dispatchers of its process to keep parts (`DispatchService`)."""

    @property
    def kept(self) -> KeptParts: ...

    @property
    def lease(self) -> timedelta: ...

    def part_prices(self, now: datetime) -> PriceList: ...


class _ChunkKeeping:
    """What keeping the chunks of one expansion takes, whatever writes them: the campaign's values, the
    chunk's lease when it is kept, its parts until it commits, their total price and the charge."""

    def __init__(
        self, keeper: PartKeeper, shared: Mapping[str, Any], body: str, parts: int, now: datetime
    ) -> None:
        self.keeper = keeper
        self.shared = shared
        self.body = body
        self.parts = parts
        self.prices = keeper.part_prices(now)
        # Parts that may be held for quiet hours are the claim's to decide.
        self.enabled = not shared["quiet_hours"]
        self._lease_until: datetime | None = None  # the chunk's lease when it is kept
        self._ready: list[ClaimedPart] = []
        self._total = Decimal(0)

    def _start(self, wanted: int, countries: Iterable[str], now: datetime) -> bool:
        """A new chunk of at most ``wanted`` parts to ``countries``: keep it if there is room for all of them
        and each country has a price (else the claim leaves its parts waiting for one, as any part)."""
        self._lease_until, self._ready, self._total = None, [], Decimal(0)
        if not self.enabled or wanted > self.keeper.kept.room():
            return False
        try:
            for country in countries:
                self.prices.part_price(country)
        except NoPrice:
            return False
        self._lease_until = now + self.keeper.lease
        return True

    def _keep(self, rows: Iterable[tuple[str, str, int, int, str, str, Decimal, str]]) -> None:
        """Keep the parts ``(sms_id, message_id, part, parts, to, country, price, body)``: one loop with the
        campaign's values in locals, ~1 µs a part (20,000 of them a second and more)."""
        shared, append = self.shared, self._ready.append
        account_id, campaign_id, sender = shared["account_id"], shared["campaign_id"], shared["sender"]
        flash, created_at, has_callback = (
            shared["flash"],
            shared["created_at"],
            shared["callback"] is not None,
        )
        for sms_id, message_id, part, parts, to, country, price, body in rows:
            append(
                ClaimedPart(
                    sms_id,
                    message_id,
                    account_id,
                    campaign_id,
                    part,
                    parts,
                    to,
                    sender,
                    country,
                    body,
                    flash,
                    False,  # quiet hours: such campaigns are not kept
                    None,  # campaign parts do not expire
                    created_at,
                    price,
                    1,
                    has_callback,
                )
            )

    def charge(self, conn: Connection, account_id: str, campaign_id: str, now: datetime) -> bool:
        """Debit the chunk's kept parts in the chunk's transaction. If the balance does not cover them they
        are un-kept (lease and price cleared: the claim charges them part by part) and keeping stops for
        the rest of this expansion. Returns whether the chunk stays kept."""
        lease_until, total = self._lease_until, self._total
        if lease_until is None:
            return False
        if total == 0 or AccountRepository(conn).charge_if_covered(account_id, total, now, campaign_id):
            return True
        release_kept(conn, [part.sms_id for part in self._ready], lease_until, unprice=True)
        self._lease_until, self._ready, self.enabled = None, [], False
        return False

    def hand_over(self) -> None:
        """The chunk committed: its kept parts are this process's dispatchers' to send."""
        if self._lease_until is not None and self._ready:
            self.keeper.kept.put(self._ready, self._lease_until)
        self._lease_until, self._ready = None, []


class DirectKeeping(_ChunkKeeping):
    """The keeping of one expansion's ``to`` and ``contacts`` chunks (`DirectPartInserter`): decides per
    chunk, writes the kept columns with the parts, charges the account in the chunk's transaction and, once
    it has committed, hands the parts to `KeptParts`."""

    def start_chunk(self, by_region: Mapping[str, Sequence[str]], now: datetime) -> bool:
        """Whether the chunk about to be written is kept: room for all of its parts, and a price for each of
        its countries."""
        wanted = sum(len(numbers) for numbers in by_region.values()) * self.parts
        return self._start(wanted, by_region, now)

    def kept_columns(self, country: str) -> Kept | None:
        """The kept columns of the chunk's statement for ``country``, or None (not kept)."""
        if self._lease_until is None:
            return None
        return Kept(self._lease_until, self.prices.part_price(country))

    def written(
        self,
        conn: Connection,
        numbers: Sequence[str],
        country: str,
        prefix: str,
        first: int,
        recipients: int,
    ) -> None:
        """The chunk's statement for ``country`` wrote ``recipients`` of ``numbers`` (the others are
        blacklisted contacts), the number at index ``i`` with ids from ``first + i × (parts + 1)``: keep
        the parts written."""
        if self._lease_until is None:
            return
        price, parts, body = self.prices.part_price(country), self.parts, self.body
        present: set[str] | None = None
        if recipients < len(numbers):  # which: their first part's row is there
            present = set(written_part_ids(conn, prefix, first, len(numbers) * (parts + 1)))
        self._keep(
            (sms_id, message_id, part, parts, number, country, price, body)
            for sms_id, message_id, part, number in numbered_parts(prefix, first, numbers, parts, present)
        )
        self._total += price * recipients * parts


class GroupKeeping(_ChunkKeeping):
    """The keeping of one expansion's group chunks (`GroupPartInserter`): the database prices each part
    by its country as it writes it, and the kept parts are read back (their numbers are the database's)."""

    def start_chunk(self, size: int, now: datetime) -> bool:
        """Whether the chunk of at most ``size`` recipients about to be written is kept: room for all of its
        parts, and a price for any country (the ``ZZ`` row)."""
        return self._start(size * self.parts, (FALLBACK_ISO,), now)

    def kept_columns(self) -> KeptByCountry | None:
        """The kept columns of the chunk's statement, or None (not kept)."""
        if self._lease_until is None:
            return None
        return KeptByCountry(self._lease_until, self.prices.per_part, self.prices.part_price(FALLBACK_ISO))

    def written(self, conn: Connection, prefix: str, first: int, count: int) -> None:
        """The chunk's statement wrote its kept parts among the ``count`` ids reserved from ``first``: read
        them back and keep them."""
        if self._lease_until is None:
            return
        rows = kept_rows(conn, prefix, first, count, self._lease_until)
        prices = {micros: Decimal(micros) / MICROS for micros in {row[5] for row in rows}}
        parts, body = self.parts, self.body
        self._keep(
            (sms_id, message_id, part, parts, to, country, prices[micros], body)
            for sms_id, message_id, part, to, country, micros in rows
        )
        self._total += Decimal(sum(row[5] for row in rows)) / MICROS  # exact: whole micro-units


class RowKeeping(_ChunkKeeping):
    """The keeping of one expansion's chunks built in Python (a personalised body: `CampaignPartWriter`):
    the rows are known as they are written, so a kept chunk is written country by country with its kept
    columns, and its parts kept as they are (each with its own text and number of parts)."""

    def start_chunk(self, rows: Sequence[PartValues], now: datetime) -> bool:
        """Whether the chunk ``rows`` is kept: room for all of them, and a price for each of their
        countries."""
        return self._start(len(rows), {row[5] for row in rows}, now)

    def by_country(self, rows: Sequence[PartValues]) -> list[tuple[dict[str, Any], list[PartValues]]]:
        """The chunk's rows by country, each with the values its rows share (the campaign's and the kept
        columns: what its `CampaignPartWriter` is made with); keeps the parts."""
        assert self._lease_until is not None
        grouped: dict[str, list[PartValues]] = {}
        for row in rows:
            grouped.setdefault(row[5], []).append(row)
        writes: list[tuple[dict[str, Any], list[PartValues]]] = []
        for country, country_rows in grouped.items():
            price = self.prices.part_price(country)
            kept = {"lease_until": self._lease_until, "attempts": 1, "price": price}
            writes.append(({**self.shared, **kept}, country_rows))
            self._keep(
                (sms_id, message_id, part, parts, to, country, price, self.body if body is None else body)
                for sms_id, message_id, part, parts, to, country, body, _ in country_rows
            )
            self._total += price * len(country_rows)
        return writes
