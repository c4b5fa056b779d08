"""`KeptParts`, the queue of parts an expansion kept for its process's dispatchers: in the order written, up
to a limit, the stale ones (less than half a lease left) handed back for release rather than sent."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from smscast.db.dispatch import ClaimedPart
from smscast.services.kept_parts import KeptParts

T = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _parts(prefix: str, n: int) -> list[ClaimedPart]:
    return [
        ClaimedPart(
            f"{prefix}{i}",
            f"{prefix}{i}",
            "a",
            "c",
            1,
            1,
            "+306948",
            "ACME",
            "GR",
            "Hi",
            False,
            False,
            None,
            T,
            Decimal("0.02"),
            1,
            False,
        )
        for i in range(n)
    ]


def _ids(parts: list[ClaimedPart]) -> list[str]:
    return [part.sms_id for part in parts]


def test_parts_come_out_in_the_order_written_a_batch_split_where_the_limit_falls() -> None:
    kept = KeptParts(limit=10)
    kept.put(_parts("a", 3), T + timedelta(minutes=2))
    kept.put(_parts("b", 3), T + timedelta(minutes=2))
    assert len(kept) == 6 and kept.room() == 4
    taken, stale = kept.take(4, T)
    assert _ids(taken) == ["a0", "a1", "a2", "b0"] and stale == []
    taken, stale = kept.take(4, T)
    assert _ids(taken) == ["b1", "b2"] and stale == []
    assert len(kept) == 0 and kept.room() == 10
    assert kept.take(4, T) == ([], [])


def test_parts_whose_lease_ends_too_soon_are_handed_back_by_lease() -> None:
    kept = KeptParts()
    soon, later = T + timedelta(seconds=30), T + timedelta(minutes=2)
    kept.put(_parts("a", 2), soon)
    kept.put(_parts("b", 2), later)
    taken, stale = kept.take(10, T + timedelta(minutes=1))
    assert _ids(taken) == ["b0", "b1"]
    assert stale == [(soon, ["a0", "a1"])]
    assert len(kept) == 0


def test_drain_hands_back_every_waiting_part_by_lease() -> None:
    kept = KeptParts()
    first, second = T + timedelta(minutes=1), T + timedelta(minutes=2)
    kept.put(_parts("a", 2), first)
    kept.put(_parts("b", 1), second)
    kept.take(1, T)
    assert kept.drain() == [(first, ["a1"]), (second, ["b0"])]
    assert len(kept) == 0 and kept.drain() == []


def test_concurrent_takers_never_get_the_same_part() -> None:
    kept = KeptParts(limit=100_000)
    for n in range(100):
        kept.put(_parts(f"p{n}-", 500), T + timedelta(minutes=2))
    taken: list[list[str]] = [[] for _ in range(4)]

    def take(into: list[str]) -> None:
        while parts := kept.take(7, T)[0]:
            into.extend(_ids(parts))

    threads = [threading.Thread(target=take, args=(into,)) for into in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [sms_id for into in taken for sms_id in into]
    assert len(every) == len(set(every)) == 50_000
    assert len(kept) == 0


def test_dispatchers_share_the_last_kept_parts_so_that_their_last_batches_end_together() -> None:
    from smscast.domain.clock import FixedClock
    from smscast.services.dispatching import DispatchService

    # The kept parts need neither the database nor prices: they are leased and charged already.
    dispatch = DispatchService(None, FixedClock(T), None, ())  # type: ignore[arg-type]
    dispatch.kept.put(_parts("a", 1200), T + timedelta(minutes=2))
    sizes = []
    while len(dispatch.kept):
        sizes.append(len(dispatch.claim(500, share=2)))
    # 500 while more than two full batches are left; then half of what is left, at least 50.
    assert sizes == [500, 350, 175, 88, 50, 37]
    dispatch.kept.put(_parts("b", 700), T + timedelta(minutes=2))
    assert len(dispatch.claim(500)) == 500  # one dispatcher: whole batches


def test_a_carrier_with_a_rate_gets_what_it_sends_in_two_seconds_the_newest_rest_handed_back() -> None:
    kept = KeptParts(limit=10_000, rate=100)  # a 100 msg/s carrier: 200 parts in two seconds
    assert kept.room() == 200
    kept.put(_parts("a", 150), T + timedelta(minutes=2))
    kept.put(_parts("b", 150), T + timedelta(minutes=2))  # more than the room (the caller checks it)
    assert kept.room() == 0
    taken, released = kept.take(50, T)
    assert _ids(taken) == [f"a{i}" for i in range(50)]
    # 250 left, 200 allowed: the newest 50 are released for other workers to claim.
    assert released == [(T + timedelta(minutes=2), [f"b{i}" for i in range(100, 150)])]
    assert len(kept) == 200


def test_without_a_rate_the_rate_taken_lately_caps_the_kept_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("smscast.services.kept_parts.time.monotonic", lambda: clock[0])
    kept = KeptParts(limit=20_000)
    kept.put(_parts("a", 5000), T + timedelta(minutes=2))
    assert kept.room() == 15_000  # nothing observed yet: the limit alone
    assert kept.take(500, T)[1] == []
    clock[0] += 1.0
    taken, released = kept.take(500, T)  # 1,000 parts in one second: 2,000 in two
    assert len(taken) == 500
    assert sum(len(ids) for _, ids in released) == 2000 and released[0][1][-1] == "a4999"
    assert len(kept) == 2000 and kept.room() == 0
    clock[0] += 10.0  # nothing taken for a while: nothing observed, the limit alone again
    assert kept.room() == 18_000
    clock[0] += 0.5
    kept.take(1000, T)  # 1,000 parts in 0.5 s ...
    clock[0] += 0.6
    assert len(kept.take(1000, T)[0]) == 1000  # ... and the last 1,000: none left, nothing remembered
    kept.put(_parts("b", 5000), T + timedelta(minutes=2))
    clock[0] += 0.1
    assert kept.take(500, T)[1] == [] and kept.room() == 15_500
