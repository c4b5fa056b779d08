"""Wake an engine loop from any thread of the same process, instead of letting it sleep out its poll.

The API's handlers (threads) queue work for the engine of their own process: a campaign to send now, a
single SMS. Polling stays the rule (other processes, a worker against PostgreSQL, only see the database),
the nudge only shortens the wait of a loop in the process that queued the work.
"""

from __future__ import annotations

import asyncio
import contextlib


class Nudge:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def bind(self) -> None:
        """Attach to the running event loop (the engine's); ``notify`` does nothing before."""
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake the loop's waiter (or let its next wait return at once); callable from any thread."""
        loop, event = self._loop, self._event
        if loop is None or event is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            loop.call_soon_threadsafe(event.set)

    async def wait(self, stop: asyncio.Event, seconds: float) -> None:
        """Return after ``seconds``, or sooner when notified or when ``stop`` is set."""
        event = self._event
        if event is None:
            await wait_unless_stopped(stop, seconds)
            return
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(event.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        event.clear()


async def wait_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    """Return after ``seconds``, or sooner when ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
