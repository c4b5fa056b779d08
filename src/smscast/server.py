"""Process runners: the API server with (or without) the engine loops, and the worker alone."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from types import FrameType

import uvicorn

from smscast.api.app import create_app
from smscast.bootstrap import Container, build_engine
from smscast.logging_redaction import install_log_redaction

log = logging.getLogger("smscast.server")


def serve(container: Container, *, host: str, port: int, run_engine: bool) -> None:
    """Serve HTTP on ``host:port`` until SIGINT/SIGTERM; run the engine loops beside it when asked."""
    own = {f"{name}:{port}" for name in (host, "localhost", "127.0.0.1", "[::1]", "::1")}
    container.campaigns.own_hosts = container.messages.own_hosts = frozenset(own)
    app = create_app(container)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False, lifespan="on")
    install_log_redaction()  # uvicorn.Config has just installed its own handlers
    server = uvicorn.Server(config)
    _freeze_start_up_objects()
    asyncio.run(_serve(server, container, run_engine))


async def _serve(server: uvicorn.Server, container: Container, run_engine: bool) -> None:
    engine_task: asyncio.Task[None] | None = None
    stop = asyncio.Event()
    if run_engine:
        engine_task = asyncio.create_task(_run_engine(container, stop))
    # uvicorn handles SIGINT/SIGTERM during serve() and then raises the signal again for the handler it
    # found: with Python's defaults that killed the process before the engine could finish its batch,
    # record it and unbind. With these handlers the process ends once the engine has stopped; a second
    # signal ends it at once (nothing accepted is lost: leases hand unfinished parts out again).
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if received:
            os._exit(128 + signum)
        received.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        await server.serve()
    finally:
        stop.set()
        if engine_task is not None:
            await engine_task
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_worker(container: Container) -> None:
    """Run the engine loops until SIGINT/SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await _run_engine(container, stop)

    _freeze_start_up_objects()
    asyncio.run(main())


def _freeze_start_up_objects() -> None:
    """Leave what start-up made (modules, the app, metadata, pools) out of every later garbage collection.

    They live as long as the process, and a full collection walked them all: 40–80 ms with the GIL held,
    about once a second at a few thousand messages a second, during which nothing was sent or written."""
    gc.collect()
    gc.freeze()


async def _run_engine(container: Container, stop: asyncio.Event) -> None:
    await build_engine(container).run(stop)
