"""Micro-benchmark of body analysis, part counting and personalisation (the per-recipient hot path).

Run: ``.venv/bin/python bench/bench_text.py``. Prints microseconds per call. If the optional ``gsm0338``
package is importable, its codec is timed on the same GSM texts for comparison (it is not a dependency).
"""

from __future__ import annotations

import importlib
import sys
import time
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path

try:
    import smscast  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from smscast.domain.personalisation import compile_template
from smscast.domain.segmentation import analyse, count_parts

GSM_160 = ("Your order #12345 has shipped! Track it at example.com/t/ABC. Questions? Reply HELP. " * 2)[:160]
GSM_300 = ("Sale: {50%} off [today] only~ Use code SAVE50 at checkout. €5 delivery. " * 5)[:300]
UNICODE_100 = ("Γειά σου! Η παραγγελία σας στάλθηκε “σήμερα” — ευχαριστούμε… 😀 " * 2)[:100]
RECIPIENTS = 30_000
TEMPLATE = "Hi [~firstName] [~lastName], your code is [~code]. Show it at any store before Sunday. Reply STOP"


def per_call_us(func: Callable[[], object], target_seconds: float = 0.3) -> float:
    """Best-of-5 microseconds per call, with the repeat count sized to ~target_seconds per run."""
    timer = timeit.Timer(func)
    number, _ = timer.autorange()
    number = max(1, int(number * target_seconds / 0.2))
    return min(timer.repeat(repeat=5, number=number)) / number * 1e6


def bench_campaign() -> tuple[float, int]:
    """Render and count one personalised body per recipient; returns (seconds, total parts)."""
    template = compile_template(TEMPLATE)
    fallback = {"firstName": "friend"}
    contacts = [
        {"firstName": f"Name{i}", "lastName": f"Surname{i % 977}", "code": f"{i:06d}"} if i % 10 else {}
        for i in range(RECIPIENTS)
    ]
    start = time.perf_counter()
    total = 0
    for values in contacts:
        total += count_parts(template.render(values, fallback))
    return time.perf_counter() - start, total


def main() -> None:
    print(f"Python {sys.version.split()[0]}")
    texts = {"160-char GSM": GSM_160, "300-char GSM": GSM_300, "100-char unicode": UNICODE_100}
    for name, text in texts.items():
        assert len(text) == int(name.split("-")[0]), name
        a = per_call_us(partial(analyse, text))
        c = per_call_us(partial(count_parts, text))
        print(f"{name:<18} analyse {a:7.2f} µs   count_parts {c:6.2f} µs   ({count_parts(text)} parts)")

    # Best of three: the loop is short enough for a stray scheduler hiccup to matter.
    seconds, parts = min(bench_campaign() for _ in range(3))
    print(
        f"{RECIPIENTS} recipients render+count_parts: {seconds * 1e3:.1f} ms total, "
        f"{seconds / RECIPIENTS * 1e6:.2f} µs per recipient ({parts} parts)"
    )

    try:
        importlib.import_module("gsm0338")  # registers the "gsm03.38" codec
    except ImportError:
        print("gsm0338 not installed: no comparison")
        return
    for name, text in (("160-char GSM", GSM_160), ("300-char GSM", GSM_300)):
        g = per_call_us(partial(text.encode, "gsm03.38"))
        print(f"{name:<18} gsm0338 encode {g:7.2f} µs (septet count only, no part split)")


if __name__ == "__main__":
    main()
