"""An SMPP carrier run in a child process, so that the SMPP session has a core of its own.

The engine's process holds the GIL for the database work (claim, charge, record, receipts) and the API; the
SMPP session (PDU encoding and decoding, the window, receipts parsing, enquire_link) has to answer the SMSC
within milliseconds to keep its window full. In one process each waits for the other. Here ``smscast
serve``/``smscast worker`` start ``python -m smscast.carriers.process FD`` beside themselves and talk to it
over a socket pair: batches of parts one way, batches of results and receipts the other.

Guarantees are those of `SmppCarrier` (docs/adr/0002): a receipt is acknowledged to the SMSC only after the
engine's ``on_receipts`` returned (the child waits for the engine's answer); a part whose result was lost
with the child is reported as a failure worth retrying, exactly like a part whose connection dropped before
its submit_sm_resp. The child exits when the engine's end of the socket closes (the engine exited or was
killed), so it never outlives its process. A child that dies is started again with back-off.

Wire: 4-byte big-endian length, then a pickled tuple (both ends are this module, same version).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import os
import pickle
import signal
import socket
import struct
import sys
from collections.abc import Sequence
from typing import Any

from smscast.carriers.base import DeliveryReport, OutboundPart, ReceiptSink, SubmitCallback, SubmitResult
from smscast.db.errors import FaultLog

log = logging.getLogger("smscast.carrier")
_LENGTH = struct.Struct(">I")
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)


def _frame(message: tuple[Any, ...]) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


async def _send(writer: asyncio.StreamWriter, message: tuple[Any, ...]) -> None:
    writer.write(_frame(message))
    await writer.drain()


async def _receive(reader: asyncio.StreamReader) -> tuple[Any, ...] | None:
    """The next message, or None at the end of the stream."""
    try:
        head = await reader.readexactly(_LENGTH.size)
        (length,) = _LENGTH.unpack(head)
        message: tuple[Any, ...] = pickle.loads(await reader.readexactly(length))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return message


class ProcessCarrier:
    """`Carrier` and `SubmitsEach` over a child process running `SmppCarrier` for ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._sink: ReceiptSink | None = None
        self._tokens = itertools.count(1)
        self._pending: dict[int, tuple[SubmitCallback, int]] = {}  # token → (on_result, index)
        # (token, *fields of OutboundPart but its sms_id): a dataclass pickles 20 times slower than a tuple.
        self._outbox: list[tuple[Any, ...]] = []
        self._writer: asyncio.StreamWriter | None = None
        self._child: asyncio.subprocess.Process | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._closed = asyncio.Event()
        self._restarts = 0
        self._faults = FaultLog(log)

    async def start(self, on_receipts: ReceiptSink) -> None:
        self._sink = on_receipts
        await self._spawn()

    async def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            self._child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "smscast.carriers.process",
                str(theirs.fileno()),
                pass_fds=[theirs.fileno()],
                env={**os.environ, "SMSCAST_CARRIER_URL": self.url},
            )
        finally:
            theirs.close()
        reader, self._writer = await asyncio.open_connection(sock=ours)
        first = await _receive(reader)
        if first is None or first[0] != "started":
            detail = first[1] if first is not None and len(first) > 1 else "the carrier process exited"
            await self._reap()
            raise OSError(f"SMPP carrier could not start: {detail}")
        self._reader_task = asyncio.create_task(self._read(reader), name="carrier-process-reader")

    async def _reap(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._child is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._child.wait(), 10)
            if self._child.returncode is None:
                self._child.kill()
                await self._child.wait()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while (message := await _receive(reader)) is not None:
            kind = message[0]
            if kind == "results":
                for token, carrier_id, error, retry in message[1]:
                    entry = self._pending.pop(token, None)
                    if entry is not None:
                        on_result, index = entry
                        on_result(index, SubmitResult(carrier_id, error, retry))
            elif kind == "receipts":
                task = asyncio.create_task(self._store_receipts(message[1], message[2]))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            elif kind == "closed":
                break
        await self._child_gone()

    async def _store_receipts(self, batch: int, items: list[tuple[str, str, str | None]]) -> None:
        ok = True
        try:
            assert self._sink is not None
            await self._sink([DeliveryReport(*item) for item in items])
            self._faults.succeeded("storing receipts")
        except Exception as exc:
            # Refused to the SMSC, which sends them again: while the database is down, a few lines.
            self._faults.failure("storing receipts", exc)
            ok = False
        if self._writer is not None and not self._writer.is_closing():
            with contextlib.suppress(ConnectionError):
                await _send(self._writer, ("acked", batch, ok))

    async def _child_gone(self) -> None:
        """The child ended: what it had not answered may or may not have reached the SMSC (retry, as for a
        dropped connection); start another one unless we are closing."""
        lost, self._pending = self._pending, {}
        for on_result, index in lost.values():
            on_result(index, SubmitResult(None, error="the SMPP carrier process ended", retry=True))
        await self._reap()
        if self._closing:
            self._closed.set()
            return
        delay = RESTART_BACKOFF_S[min(self._restarts, len(RESTART_BACKOFF_S) - 1)]
        self._restarts += 1
        log.error("the SMPP carrier process ended (exit %s); starting another in %.1f s", self._exit(), delay)
        self._writer = None
        while not self._closing:
            await asyncio.sleep(delay)
            try:
                await self._spawn()
                return
            except Exception as exc:
                log.error("the SMPP carrier process could not start: %s", exc)

    def _exit(self) -> int | None:
        return self._child.returncode if self._child is not None else None

    def submit_each(self, parts: Sequence[OutboundPart], on_result: SubmitCallback) -> None:
        """`SubmitsEach`: the parts go to the child in one message at the end of this loop iteration."""
        loop = asyncio.get_running_loop()
        if self._writer is None or self._closing:
            for index in range(len(parts)):
                loop.call_soon(on_result, index, SubmitResult(None, error="carrier not running", retry=True))
            return
        if not self._outbox:
            loop.call_soon(self._flush)
        for index, part in enumerate(parts):
            token = next(self._tokens)
            self._pending[token] = (on_result, index)
            self._outbox.append(
                (
                    token,
                    part.to,
                    part.sender,
                    part.data_coding,
                    part.payload,
                    part.part,
                    part.parts,
                    part.ref,
                    part.flash,
                    part.validity_minutes,
                )
            )

    def _flush(self) -> None:
        batch, self._outbox = self._outbox, []
        writer = self._writer
        if writer is None or writer.is_closing():
            for token, *_ in batch:
                entry = self._pending.pop(token, None)
                if entry is not None:
                    entry[0](entry[1], SubmitResult(None, error="carrier not running", retry=True))
            return
        writer.write(_frame(("submit", batch)))

    async def submit(self, part: OutboundPart) -> SubmitResult:
        future: asyncio.Future[SubmitResult] = asyncio.get_running_loop().create_future()

        def done(_index: int, result: SubmitResult) -> None:
            if not future.done():
                future.set_result(result)

        self.submit_each([part], done)
        return await future

    async def close(self) -> None:
        self._closing = True
        if self._writer is None or self._reader_task is None:
            return
        with contextlib.suppress(ConnectionError):
            await _send(self._writer, ("close",))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), 60)
        self._reader_task.cancel()


# --- the child ---------------------------------------------------------------------------------------


async def _child(fd: int) -> None:
    from smscast.carriers.smpp import SmppCarrier

    reader, writer = await asyncio.open_connection(sock=socket.socket(fileno=fd))
    carrier = SmppCarrier.from_url(os.environ["SMSCAST_CARRIER_URL"])
    acks: dict[int, asyncio.Future[bool]] = {}
    batches = itertools.count(1)
    results: list[tuple[int, str | None, str | None, bool]] = []
    loop = asyncio.get_running_loop()

    def flush_results() -> None:
        batch, results[:] = results[:], []
        if not writer.is_closing():
            writer.write(_frame(("results", batch)))

    def on_result(tokens: list[int], index: int, result: SubmitResult) -> None:
        if not results:
            loop.call_soon(flush_results)
        results.append((tokens[index], result.carrier_id, result.error, result.retry))

    async def on_receipts(reports: Sequence[DeliveryReport]) -> None:
        batch = next(batches)
        acks[batch] = loop.create_future()
        items = [(r.carrier_id, r.stat, r.error_code) for r in reports]
        await _send(writer, ("receipts", batch, items))
        if not await acks[batch]:
            raise RuntimeError("the engine could not store these receipts")

    try:
        await carrier.start(on_receipts)
    except Exception as exc:
        await _send(writer, ("failed", f"{type(exc).__name__}: {exc}"))
        return
    await _send(writer, ("started",))
    orphaned = True  # until the engine says "close": its end of the socket closed (it exited or was killed)
    while (message := await _receive(reader)) is not None:
        kind = message[0]
        if kind == "submit":
            tokens = [item[0] for item in message[1]]
            parts = [OutboundPart("", *item[1:]) for item in message[1]]
            carrier.submit_each(parts, functools.partial(on_result, tokens))
        elif kind == "acked":
            future = acks.pop(message[1], None)
            if future is not None and not future.done():
                future.set_result(bool(message[2]))
        elif kind == "close":
            orphaned = False
            break
    if orphaned:
        # Whatever reaches the SMSC from now on can never be recorded, and is sent again after its lease:
        # send nothing more. Only the window in flight stays unrecorded (docs/adr/0002).
        abandoned = carrier.abandon_queued()
        log.warning("the engine's process is gone; %d parts not sent, unbinding", abandoned)
    # Unbind after the window drains; the engine, if alive, gets the last results before "closed".
    for future in acks.values():
        if not future.done():
            future.set_result(False)
    await carrier.close()
    if results:
        flush_results()
    with contextlib.suppress(ConnectionError):
        await _send(writer, ("closed",))
    writer.close()


def main() -> None:
    from smscast.logging_redaction import install_log_redaction

    # Ctrl-C reaches the whole process group and systemd signals the whole cgroup: the engine's process
    # decides when this one stops ("close", or its end of the socket closing), after its batch is recorded.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    logging.basicConfig(
        level=os.environ.get("SMSCAST_LOG_LEVEL", "INFO").upper(),
        format="%(levelname)s %(name)s (carrier process): %(message)s",
    )
    install_log_redaction()
    asyncio.run(_child(int(sys.argv[1])))


if __name__ == "__main__":
    main()
