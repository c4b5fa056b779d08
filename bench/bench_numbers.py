"""Benchmark of recipient-number validation and time-zone lookup (``smscast.domain.numbers``).

Run: ``.venv/bin/python bench/bench_numbers.py [--quick]``. Prints microseconds per number for 30,000 and
100,000 distinct, valid numbers from every country libphonenumber knows, in random (arrival) order:

- ``validate_numbers`` (grouped by calling code) against ``parse_e164`` called one by one in arrival order,
  both with empty memo caches, and the memoised (warm) case;
- ``zones_of`` in arrival order against the same numbers sorted by calling code;
- the same one-by-one / grouped comparisons with libphonenumber's compiled-pattern cache switched off, the
  library's default, which ``smscast.domain.numbers`` switches on (these rows use the first 10,000 numbers:
  arrival order then costs ~250 µs a number).

The budget: a 30,000-recipient campaign create has 1 s in all; validation should take at most 0.5 s of it.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

try:
    import smscast  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import phonenumbers
from phonenumbers import PhoneNumberType, re_util

from smscast.domain.numbers import clear_caches, country_calling_code, parse_e164, validate_numbers, zones_of

SIZES = (30_000, 100_000)
UNCACHED_SAMPLE = 10_000
BUDGET_30K_S = 0.5


def make_numbers(count: int, seed: int = 1) -> list[str]:
    """``count`` distinct valid E.164 numbers, mixed countries, shuffled: each region's example mobile and
    fixed-line numbers with the last 4 digits randomised, kept if libphonenumber's own parser accepts them."""
    rng = random.Random(seed)
    templates: list[str] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is not None:
                templates.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    found: set[str] = set()
    while len(found) < count:
        template = rng.choice(templates)
        candidate = template[:-4] + f"{rng.randrange(10_000):04d}"
        if candidate not in found and phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            found.add(candidate)
    out = sorted(found)
    rng.shuffle(out)
    return out


def by_calling_code(values: Sequence[str]) -> list[str]:
    return sorted(values, key=country_calling_code)


def timed(func: Callable[[], object], repeat: int) -> float:
    """Best of ``repeat`` runs in seconds, each starting with empty memo caches."""
    best = float("inf")
    for _ in range(repeat):
        clear_caches()
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def one_by_one(values: Sequence[str]) -> None:
    for value in values:
        parse_e164(value)


def zones_each(values: Sequence[str]) -> None:
    for value in values:
        zones_of(value)


def row(label: str, seconds: float, count: int, reference: float) -> None:
    """One figure: µs per number, total ms, and the ratio to ``reference`` (seconds, same count)."""
    print(
        f"  {label:<45} {seconds / count * 1e6:7.1f} µs/number {seconds * 1e3:9.1f} ms"
        f" {seconds / reference:7.2f}x"
    )


def set_pattern_cache(enabled: bool) -> None:
    # Private switch of phonenumbers' re_util, for this measurement only: there is no public "off".
    re_util._COMPILED_PATTERNS = {} if enabled else None  # type: ignore[attr-defined]


def warm_run(func: Callable[[], object], repeat: int) -> float:
    """Best of ``repeat`` runs in seconds, memo caches kept (after one untimed run to fill them)."""
    func()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run per figure instead of best of 3")
    repeat = 1 if parser.parse_args().quick else 3
    pattern_cache = getattr(re_util, "_COMPILED_PATTERNS", None) is not None
    print(
        f"Python {sys.version.split()[0]}, phonenumbers {phonenumbers.__version__}, "
        f"library pattern cache {'on' if pattern_cache else 'unavailable'}"
    )
    all_numbers = make_numbers(max(SIZES))
    codes = len({country_calling_code(n) for n in all_numbers})
    print(f"{len(all_numbers):,} distinct valid numbers from {codes} calling codes, in random order")

    # First use in a fresh process loads each region's metadata and compiles its patterns.
    clear_caches()
    start = time.perf_counter()
    validate_numbers(all_numbers[: SIZES[0]])
    first = time.perf_counter() - start
    print(f"first validate_numbers of {SIZES[0]:,} in this process (loads metadata): {first * 1e3:.0f} ms")
    zones_each(all_numbers[: SIZES[0]])

    verdict = ""
    for size in SIZES:
        values = all_numbers[:size]
        in_groups = by_calling_code(values)
        print(f"\n{size:,} numbers (ratio: against the grouped figure of the same kind)")
        bulk = timed(partial(validate_numbers, values), repeat)
        row("validate_numbers (grouped), cold caches", bulk, size, bulk)
        row(
            "parse_e164 one by one, arrival order, cold",
            timed(partial(one_by_one, values), repeat),
            size,
            bulk,
        )
        row(
            "validate_numbers, all memoised (warm)",
            warm_run(partial(validate_numbers, values), repeat),
            size,
            bulk,
        )
        zones_grouped = timed(partial(zones_each, in_groups), repeat)
        row("zones_of grouped by calling code, cold", zones_grouped, size, zones_grouped)
        row("zones_of arrival order, cold", timed(partial(zones_each, values), repeat), size, zones_grouped)
        row(
            "zones_of, all memoised (warm)",
            warm_run(partial(zones_each, values), repeat),
            size,
            zones_grouped,
        )
        if size == 30_000:
            within = "within" if bulk <= BUDGET_30K_S else "OVER"
            verdict = (
                f"30,000 numbers validated cold in {bulk * 1e3:.0f} ms: {within} the "
                f"{BUDGET_30K_S * 1e3:.0f} ms goal"
            )

    if pattern_cache:
        sample = all_numbers[:UNCACHED_SAMPLE]
        in_groups = by_calling_code(sample)
        print(
            f"\nlibphonenumber's default, pattern cache OFF: first {UNCACHED_SAMPLE:,} numbers, one run each"
        )
        set_pattern_cache(False)
        try:
            bulk = timed(partial(validate_numbers, sample), 1)
            row("validate_numbers (grouped), cold", bulk, UNCACHED_SAMPLE, bulk)
            row(
                "parse_e164 one by one, arrival order, cold",
                timed(partial(one_by_one, sample), 1),
                UNCACHED_SAMPLE,
                bulk,
            )
            zones_grouped = timed(partial(zones_each, in_groups), 1)
            row("zones_of grouped by calling code, cold", zones_grouped, UNCACHED_SAMPLE, zones_grouped)
            row(
                "zones_of arrival order, cold",
                timed(partial(zones_each, sample), 1),
                UNCACHED_SAMPLE,
                zones_grouped,
            )
        finally:
            set_pattern_cache(True)
    print(f"\n{verdict}")


if __name__ == "__main__":
    main()
