"""The ESME side of SMPP 3.4 over asyncio: bind, submit with a window, receive deliver_sm, stay alive.

`SmppSession` owns one binding (a transceiver connection, or a transmitter plus a receiver connection)
and keeps it up: enquire_link when the link is idle, reconnect with exponential back-off and rebind
when it drops, slow the whole session down when the SMSC throttles. Callers only see `submit` (one
SubmitSm in, one `SubmitOutcome` out) and the ``on_deliver`` callback.

Delivery semantics callers must know:
- At-least-once towards the SMSC: a submit_sm in flight when a connection drops (or whose response does
  not arrive within ``response_timeout_s``, which also drops the connection) is resubmitted after the
  rebind. The SMSC may already have accepted it, so it can be delivered twice; at most ``window`` PDUs
  are in flight, which bounds the duplicates per drop.
- deliver_sm is answered after ``on_deliver`` returns; if it raises, the answer is ESME_RX_T_APPN so the
  SMSC keeps the PDU and redelivers it later. A deliver_sm received on a connection that drops before the
  answer is sent is redelivered by the SMSC, so ``on_deliver`` must be idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import random
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from smscast.smpp import constants as c
from smscast.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    PduError,
    PduReader,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)

log = logging.getLogger("smscast.smpp")
_Role = Literal["transceiver", "transmitter", "receiver"]
_BIND_PDUS = {"transceiver": BindTransceiver, "transmitter": BindTransmitter, "receiver": BindReceiver}
_HEADER = struct.Struct(">IIII")


class BindFailed(Exception):
    """The SMSC refused the bind; ``command_status`` is its answer (e.g. ESME_RINVPASWD)."""

    def __init__(self, command_status: int, system_id: str) -> None:
        super().__init__(f"bind as {system_id!r} refused: {c.status_name(command_status)}")
        self.command_status = command_status


class SessionClosed(Exception):
    """The session is closing or closed. From `SmppSession.submit` it means the call was not answered
    before `SmppSession.close` gave up; such a PDU may or may not have reached the SMSC."""


class _Resubmit(Exception):
    """Internal: the request's outcome is unknown (connection lost, unreadable response); send it again."""


@dataclass(frozen=True)
class SmppConfig:
    """Connection settings. Times are seconds; ``tps`` 0 means unlimited; ``window`` is the maximum number
    of submit_sm awaiting their response; ``deliver_concurrency`` how many ``on_deliver`` calls may run
    at once (1 keeps the SMSC's order)."""

    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    bind: Literal["transceiver", "transmitter+receiver"] = "transceiver"
    window: int = 100
    tps: float = 0
    enquire_link_s: float = 30
    response_timeout_s: float = 30
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30
    throttle_backoff_s: float = 1.0
    deliver_concurrency: int = 1


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    """``ok`` with the SMSC's ``message_id``, or a permanent refusal: ok=False with its command_status."""

    ok: bool
    message_id: str | None
    command_status: int


@dataclass(slots=True)
class SessionStats:
    """Counters since the session was created (a snapshot; see `SmppSession.stats`)."""

    submitted: int = 0  # submit_sm written, resubmissions included
    resubmitted: int = 0  # after a lost connection or an unreadable response
    throttled: int = 0  # ESME_RTHROTTLED / ESME_RMSGQFUL answers
    binds: int = 0
    disconnects: int = 0
    delivered: int = 0  # deliver_sm received
    deliver_errors: int = 0  # on_deliver raised; answered ESME_RX_T_APPN
    enquire_links_sent: int = 0


class _Connection(asyncio.Protocol):
    """One TCP connection: framing, request/response correlation by sequence_number, coalesced writes."""

    def __init__(self, session: SmppSession, role: _Role, loop: asyncio.AbstractEventLoop) -> None:
        self.session, self.role, self.loop = session, role, loop
        self.transport: asyncio.Transport | None = None
        self.reader = PduReader()
        self.pending: dict[int, asyncio.Future[Pdu]] = {}
        self.deadlines: deque[tuple[float, int]] = deque()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.last_rx = loop.time()
        self.enquiring = False
        self.keepalive: asyncio.Task[None] | None = None
        self._out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, data: bytes) -> None:
        """Queue ``data``; everything queued in one loop iteration leaves in a single write."""
        if not self._out:
            self.loop.call_soon(self._flush)
        self._out.append(data)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    def request(self, data: bytes, sequence_number: int) -> asyncio.Future[Pdu]:
        fut: asyncio.Future[Pdu] = self.loop.create_future()
        if self.closed.done():
            fut.set_exception(_Resubmit("connection already closed"))
            return fut
        self.pending[sequence_number] = fut
        self.deadlines.append((self.loop.time() + self.session.config.response_timeout_s, sequence_number))
        self.send(data)
        return fut

    def close(self) -> None:
        self._flush()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        self.last_rx = self.loop.time()
        try:
            items = self.reader.feed(data)
        except PduError as exc:
            log.warning("SMPP framing error from %s, dropping the connection: %s", self.role, exc)
            self.abort()
            return
        for item in items:
            if isinstance(item, bytes):
                self._on_malformed(item)
            elif item.command_id & c.RESPONSE_BIT:
                fut = self.pending.pop(item.sequence_number, None)
                if fut is not None and not fut.done():
                    fut.set_result(item)
            else:
                self.session._on_request(self, item)

    def _on_malformed(self, frame: bytes) -> None:
        _, command_id, _, sequence_number = _HEADER.unpack_from(frame)
        log.warning("undecodable PDU 0x%08X seq %d from the SMSC", command_id, sequence_number)
        if command_id & c.RESPONSE_BIT:
            fut = self.pending.pop(sequence_number, None)
            if fut is not None and not fut.done():
                fut.set_exception(_Resubmit("unreadable response"))
        else:
            self.send(GenericNack(c.ESME_RINVCMDLEN, sequence_number).encode())

    def connection_lost(self, exc: Exception | None) -> None:
        self.session._connection_lost(self)
        pending, self.pending = self.pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(_Resubmit("connection lost"))
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass(slots=True)
class _Link:
    role: _Role
    conn: _Connection | None
    ready: asyncio.Event
    supervisor: asyncio.Task[None] | None = None


class SmppSession:
    """An ESME session. Create, ``await start()``, call `submit` from any number of coroutines, ``await
    close()``. Not thread-safe; all methods must run on the loop that ran `start`."""

    def __init__(self, config: SmppConfig, on_deliver: Callable[[DeliverSm], Awaitable[None]]) -> None:
        if config.window < 1 or config.deliver_concurrency < 1:
            raise ValueError("window and deliver_concurrency must be at least 1")
        self.config = config
        self._on_deliver = on_deliver
        self._stats = SessionStats()
        self._links: list[_Link] = []
        self._window = asyncio.Semaphore(config.window)
        self._tps_interval = 1.0 / config.tps if config.tps > 0 else 0.0
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._pause_started = float("-inf")
        self._throttle_streak = 0
        self._sequence = 0
        self._in_flight = 0
        self._drained = asyncio.Event()
        self._deliveries: asyncio.Queue[tuple[_Connection, DeliverSm]] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._started = self._closing = False

    @property
    def connected(self) -> bool:
        """True when every connection of the binding is currently bound."""
        return bool(self._links) and not self._closing and all(link.conn is not None for link in self._links)

    @property
    def stats(self) -> SessionStats:
        return dataclasses.replace(self._stats)

    async def start(self) -> None:
        """Connect and bind every connection of the binding, then keep them alive in the background.

        Raises `BindFailed` when the SMSC refuses the credentials and OSError/TimeoutError when it cannot
        be reached; nothing is left running in that case. After a successful start, later drops are
        repaired by reconnecting (with back-off, forever) until `close`.
        """
        if self._started:
            raise RuntimeError("SmppSession.start() called twice")
        self._started = True
        roles: list[_Role] = (
            ["transceiver"] if self.config.bind == "transceiver" else ["transmitter", "receiver"]
        )
        conns: list[_Connection] = []
        try:
            for role in roles:
                conns.append(await self._connect(role))
        except BaseException:
            for conn in conns:
                conn.abort()
            self._closing = True
            raise
        for role, conn in zip(roles, conns, strict=True):
            link = _Link(role, conn, asyncio.Event())
            link.ready.set()
            link.supervisor = asyncio.create_task(self._supervise(link, conn), name=f"smpp-{role}")
            self._links.append(link)
        self._workers = [
            asyncio.create_task(self._deliver_worker(), name="smpp-deliver")
            for _ in range(self.config.deliver_concurrency)
        ]

    async def submit(self, pdu: SubmitSm) -> SubmitOutcome:
        """Send one submit_sm and return the SMSC's verdict.

        Waits for a window slot, for the connection to be bound, and for the tps budget and any throttling
        back-off. Overwrites ``pdu.sequence_number``. ESME_RTHROTTLED / ESME_RMSGQFUL pause the whole
        session for ``throttle_backoff_s`` (doubling while throttling persists, up to 16×) and the PDU is
        resubmitted; so is a PDU whose connection dropped before its response (possible duplicate, see the
        module docstring). Any other non-zero status is returned as ``ok=False``. Raises `SessionClosed`
        once `close` has begun (or if it gave up waiting for this call's response). Waits indefinitely
        while the SMSC is unreachable: wrap in ``asyncio.timeout`` to bound it (a cancelled call may still
        have been accepted by the SMSC).
        """
        if self._closing or not self._started:
            raise SessionClosed("the session is not running")
        await self._window.acquire()
        self._in_flight += 1
        try:
            if self._closing:
                raise SessionClosed("the session is closing")
            return await self._submit_in_window(pdu)
        finally:
            self._window.release()
            self._in_flight -= 1
            if self._in_flight == 0 and self._closing:
                self._drained.set()

    async def _submit_in_window(self, pdu: SubmitSm) -> SubmitOutcome:
        link = self._links[0]
        loop = asyncio.get_running_loop()
        data = b""
        while True:
            conn = link.conn
            if conn is None or self._tps_interval or self._paused_until > loop.time():
                conn = await self._wait_to_send(link, loop)
            sequence_number = self._next_sequence()
            if data:
                data = data[:12] + sequence_number.to_bytes(4, "big") + data[16:]
            else:
                pdu.sequence_number = sequence_number
                data = pdu.encode()
            sent_at = loop.time()
            self._stats.submitted += 1
            try:
                resp = await conn.request(data, sequence_number)
            except _Resubmit:
                self._stats.resubmitted += 1
                if self._closing:
                    raise SessionClosed("closed before the SMSC answered") from None
                continue
            status = resp.command_status
            if status == c.ESME_ROK and isinstance(resp, SubmitSmResp):
                if self._throttle_streak and sent_at >= self._pause_started:
                    self._throttle_streak = 0
                return SubmitOutcome(True, resp.message_id, status)
            if status in c.THROTTLING_STATUSES:
                self._stats.throttled += 1
                self._throttled(sent_at, loop.time())
                continue
            return SubmitOutcome(False, None, status or c.ESME_RUNKNOWNERR)

    async def _wait_to_send(self, link: _Link, loop: asyncio.AbstractEventLoop) -> _Connection:
        paced = not self._tps_interval
        while True:
            conn = link.conn
            if conn is None:
                if self._closing:
                    raise SessionClosed("the session closed while waiting for a connection")
                await link.ready.wait()
                continue
            now = loop.time()
            if self._paused_until > now:
                await asyncio.sleep(self._paused_until - now)
                continue
            if not paced:
                paced = True
                slot = max(now, self._next_slot)
                self._next_slot = slot + self._tps_interval
                if slot > now:
                    await asyncio.sleep(slot - now)
                    continue
            return conn

    def _throttled(self, sent_at: float, now: float) -> None:
        if sent_at < self._pause_started:
            return  # sent before the current back-off began: that back-off already covers it
        self._throttle_streak += 1
        backoff = self.config.throttle_backoff_s * 2 ** min(self._throttle_streak - 1, 4)
        self._pause_started, self._paused_until = now, now + backoff
        log.info("SMSC throttling: pausing submits for %.3f s", backoff)

    def _next_sequence(self) -> int:
        self._sequence = self._sequence % c.MAX_SEQUENCE_NUMBER + 1
        return self._sequence

    def _on_request(self, conn: _Connection, pdu: Pdu) -> None:
        if isinstance(pdu, DeliverSm):
            self._stats.delivered += 1
            self._deliveries.put_nowait((conn, pdu))
        elif isinstance(pdu, EnquireLink):
            conn.send(EnquireLinkResp(c.ESME_ROK, pdu.sequence_number).encode())
        elif isinstance(pdu, Unbind):
            log.warning("SMSC unbound the %s connection", conn.role)
            conn.send(UnbindResp(c.ESME_ROK, pdu.sequence_number).encode())
            conn.loop.call_soon(conn.close)
        else:
            conn.send(GenericNack(c.ESME_RINVCMDID, pdu.sequence_number).encode())

    async def _deliver_worker(self) -> None:
        while True:
            conn, pdu = await self._deliveries.get()
            status = c.ESME_ROK
            try:
                await self._on_deliver(pdu)
            except Exception:
                log.exception("on_deliver failed; answering ESME_RX_T_APPN so the SMSC retries")
                self._stats.deliver_errors += 1
                status = c.ESME_RX_T_APPN
            if not conn.closed.done():
                conn.send(DeliverSmResp("", status, pdu.sequence_number).encode())

    async def _connect(self, role: _Role) -> _Connection:
        loop = asyncio.get_running_loop()
        conn = _Connection(self, role, loop)
        cfg = self.config
        await asyncio.wait_for(
            loop.create_connection(lambda: conn, cfg.host, cfg.port), cfg.response_timeout_s
        )
        sequence_number = self._next_sequence()
        bind = _BIND_PDUS[role](cfg.system_id, cfg.password, cfg.system_type, sequence_number=sequence_number)
        try:
            resp = await asyncio.wait_for(
                conn.request(bind.encode(), sequence_number), cfg.response_timeout_s
            )
        except BaseException:
            conn.abort()
            raise
        if resp.command_status != c.ESME_ROK or isinstance(resp, GenericNack):
            conn.abort()
            raise BindFailed(resp.command_status or c.ESME_RBINDFAIL, cfg.system_id)
        self._stats.binds += 1
        conn.keepalive = asyncio.create_task(self._keepalive(conn), name=f"smpp-keepalive-{role}")
        log.info("SMPP %s bound to %s:%d as %s", role, cfg.host, cfg.port, cfg.system_id)
        return conn

    def _connection_lost(self, conn: _Connection) -> None:
        """Mark the link down at once, so that no submit picks the dead connection before a reconnect."""
        for link in self._links:
            if link.conn is conn:
                link.conn = None
                link.ready.clear()
                self._stats.disconnects += 1

    async def _supervise(self, link: _Link, conn: _Connection) -> None:
        cfg = self.config
        while True:
            await asyncio.shield(conn.closed)  # cancelling the supervisor must not mark the connection closed
            if self._closing:
                return
            log.warning("SMPP %s connection lost; reconnecting", link.role)
            delay = cfg.reconnect_min_s
            while True:
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                try:
                    conn = await self._connect(link.role)
                    break
                except Exception as exc:
                    log.warning("SMPP %s reconnect failed (%r); next try in ~%.1f s", link.role, exc, delay)
                    delay = min(delay * 2, cfg.reconnect_max_s)
            if conn.closed.done():
                continue  # lost again before it could be used
            link.conn = conn
            link.ready.set()

    async def _keepalive(self, conn: _Connection) -> None:
        """Send enquire_link after ``enquire_link_s`` without traffic; drop the connection when any request
        has waited longer than ``response_timeout_s``."""
        cfg = self.config
        tick = min(1.0, max(0.005, min(cfg.enquire_link_s, cfg.response_timeout_s) / 4))
        while not conn.closed.done():
            await asyncio.sleep(tick)
            now = conn.loop.time()
            deadlines, pending = conn.deadlines, conn.pending
            while deadlines:
                deadline, sequence_number = deadlines[0]
                fut = pending.get(sequence_number)
                if fut is None or fut.done():
                    deadlines.popleft()
                    pending.pop(sequence_number, None)
                elif deadline <= now:
                    log.warning(
                        "SMPP %s: no response within %.1f s; dropping", conn.role, cfg.response_timeout_s
                    )
                    conn.abort()
                    return
                else:
                    break
            if not conn.enquiring and now - conn.last_rx >= cfg.enquire_link_s:
                conn.enquiring = True
                self._stats.enquire_links_sent += 1
                sequence_number = self._next_sequence()
                fut = conn.request(EnquireLink(sequence_number).encode(), sequence_number)
                fut.add_done_callback(functools.partial(_enquire_done, conn))

    async def close(self, drain_timeout_s: float | None = None) -> None:
        """Stop accepting submits, wait up to ``drain_timeout_s`` (default ``response_timeout_s``) for those
        in flight, unbind each connection politely, then close everything. Idempotent. Calls still
        unanswered when the timeout expires raise `SessionClosed`."""
        if self._closing:
            return
        self._closing = True
        timeout = self.config.response_timeout_s if drain_timeout_s is None else drain_timeout_s
        for link in self._links:
            link.ready.set()  # wake submits waiting for a reconnect: they now raise SessionClosed
        if self._in_flight:
            try:
                await asyncio.wait_for(self._drained.wait(), timeout)
            except TimeoutError:
                log.warning("closing with %d submits still unanswered", self._in_flight)
        for link in self._links:
            if link.supervisor is not None:
                link.supervisor.cancel()
        for link in self._links:
            conn = link.conn
            if conn is None or conn.closed.done():
                continue
            sequence_number = self._next_sequence()
            try:
                await asyncio.wait_for(
                    conn.request(Unbind(sequence_number).encode(), sequence_number), timeout
                )
            except Exception as exc:
                log.debug("unbind of the %s connection unanswered: %r", link.role, exc)
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(conn.closed), 1.0)
        for link in self._links:
            if link.conn is not None:
                link.conn.abort()
                if link.conn.keepalive is not None:
                    link.conn.keepalive.cancel()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(
            *self._workers,
            *(link.supervisor for link in self._links if link.supervisor),
            return_exceptions=True,
        )


def _enquire_done(conn: _Connection, fut: asyncio.Future[Pdu]) -> None:
    conn.enquiring = False
    if not fut.cancelled():
        fut.exception()  # retrieved so that a lost connection is not reported as "never retrieved"
