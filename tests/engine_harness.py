"""Run the engine loops in a background thread for a test, and wait for conditions."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from smscast.bootstrap import Container, build_engine
from smscast.carriers.base import Carrier
from smscast.engine.runner import EngineSettings


@contextmanager
def running_engine(
    container: Container, carrier: Carrier, settings: EngineSettings | None = None
) -> Iterator[None]:
    engine = build_engine(container, carrier)
    if settings is not None:
        engine.settings = settings
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    errors: list[BaseException] = []

    def main() -> None:
        try:
            loop.run_until_complete(engine.run(stop))
        except BaseException as exc:  # surfaced in the test thread
            errors.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
        assert not thread.is_alive(), "engine did not stop"
        if errors:
            raise errors[0]


def wait_for(
    condition: Callable[[], bool], timeout: float = 30.0, what: str | Callable[[], str] = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        time.sleep(0.05)
