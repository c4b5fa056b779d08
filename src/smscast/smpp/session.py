"""The ESME side of SMPP 3.4 over asyncio: bind, submit through a window, receive deliver_sm, stay alive.

`SmppSession` owns one binding (a transceiver connection, or a transmitter plus a receiver connection)
and keeps it up: enquire_link when a link is idle, reconnect with exponential back-off and rebind when it
drops, slow the whole session down when the SMSC throttles. Callers see `submit` (one SubmitSm in, one
`SubmitOutcome` out) and the ``on_deliver`` callback.

How it works: `submit` queues the PDU and awaits a future. A synchronous pump moves queued PDUs onto the
wire whenever a window slot, the connection, the throttling pause and the tps budget allow; it runs when a
PDU is queued, when a batch of responses arrives, when a link is rebound and on a timer. Responses are
matched by sequence_number in a dict. So a message costs one wake-up of its caller however many
coroutines call `submit`, and retries never wake the caller.

Delivery semantics callers must know:
- At-least-once towards the SMSC: a submit_sm in flight when its connection drops (or whose response does
  not arrive within ``response_timeout_s``, which drops the connection) is resubmitted after the rebind.
  The SMSC may already have accepted it, so it can be delivered twice; at most ``window`` PDUs are in
  flight, which bounds the duplicates per drop.
- deliver_sm is answered after ``on_deliver`` returns; if it raises, the answer is ESME_RX_T_APPN so that
  the SMSC keeps the PDU and redelivers it later. An unanswered deliver_sm (connection dropped) is also
  redelivered, so ``on_deliver`` must be idempotent.
- With ``on_deliver_many``, the deliver_sm PDUs that arrive in one read are handed over together as one
  list (one call, one wake-up, however many PDUs), and each is answered once that call returns (all
  ESME_RX_T_APPN if it raises). ``deliver_concurrency`` then bounds the calls in progress.
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
)  # fmt: skip
from smscast.smpp.session_types import BindFailed as BindFailed
from smscast.smpp.session_types import SessionClosed as SessionClosed
from smscast.smpp.session_types import SessionStats as SessionStats
from smscast.smpp.session_types import SmppConfig as SmppConfig
from smscast.smpp.session_types import SubmitOutcome as SubmitOutcome
from smscast.smpp.session_types import _ConnectionLost

log = logging.getLogger("smscast.smpp")
DELIVER_FAILURE_REMINDER_S = 60.0
_Role = Literal["transceiver", "transmitter", "receiver"]
_BIND_PDUS = {"transceiver": BindTransceiver, "transmitter": BindTransmitter, "receiver": BindReceiver}
_HEADER = struct.Struct(">IIII")


class _Submission:
    __slots__ = ("data", "epoch", "future", "pdu")

    def __init__(self, pdu: SubmitSm | bytes, future: asyncio.Future[SubmitOutcome]) -> None:
        self.future = future
        if isinstance(pdu, bytes):
            self.pdu: SubmitSm | None = None
            self.data = pdu  # encoded by the caller; sending patches in the sequence_number
        else:
            self.pdu = pdu
            self.data = b""  # the encoded PDU once sent; retries only patch the sequence_number
        self.epoch = 0  # the throttling epoch it was sent in


class _Connection(asyncio.Protocol):
    """One TCP connection: framing, correlation by sequence_number, writes coalesced per loop iteration."""

    def __init__(self, session: SmppSession, role: _Role, loop: asyncio.AbstractEventLoop) -> None:
        self.session, self.role, self.loop = session, role, loop
        self.transport: asyncio.Transport | None = None
        self.reader = PduReader()
        self.submits: dict[int, _Submission] = {}  # in flight, in send order
        self.requests: dict[int, asyncio.Future[Pdu]] = {}  # bind, enquire_link, unbind
        self.closed: asyncio.Future[None] = loop.create_future()
        self.lost = self.enquiring = False
        self.last_rx = loop.time()
        self.keepalive: asyncio.Task[None] | None = None
        self._out: list[bytes] = []
        self.delivers: list[DeliverSm] = []  # of the read being handled (on_deliver_many mode)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, data: bytes) -> None:
        if not self._out:
            self.loop.call_soon(self._flush)
        self._out.append(data)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    def request(self, data: bytes, sequence_number: int) -> asyncio.Future[Pdu]:
        fut: asyncio.Future[Pdu] = self.loop.create_future()
        if self.lost:
            fut.set_exception(_ConnectionLost("connection already closed"))
        else:
            self.requests[sequence_number] = fut
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
            log.warning("SMPP framing error on the %s connection, dropping it: %s", self.role, exc)
            self.abort()
            return
        session = self.session
        for item in items:
            if isinstance(item, bytes):
                self._on_malformed(item)
            elif item.command_id & c.RESPONSE_BIT:
                submission = self.submits.pop(item.sequence_number, None)
                if submission is not None:
                    session._on_submit_resp(submission, item)
                    continue
                fut = self.requests.pop(item.sequence_number, None)
                if fut is not None and not fut.done():
                    fut.set_result(item)
            else:
                session._on_request(self, item)
        if self.delivers:
            session._deliver_read(self)
        session._pump()

    def _on_malformed(self, frame: bytes) -> None:
        _, command_id, _, sequence_number = _HEADER.unpack_from(frame)
        log.warning(
            "undecodable PDU 0x%08X (seq %d) on the %s connection", command_id, sequence_number, self.role
        )
        if not command_id & c.RESPONSE_BIT:
            self.send(GenericNack(c.ESME_RINVCMDLEN, sequence_number).encode())
        elif (submission := self.submits.pop(sequence_number, None)) is not None:
            self.session._requeue([submission])
        elif (fut := self.requests.pop(sequence_number, None)) is not None and not fut.done():
            fut.set_exception(_ConnectionLost("unreadable response"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        requests, self.requests = self.requests, {}
        for fut in requests.values():
            if not fut.done():
                fut.set_exception(_ConnectionLost("connection lost"))
        self.session._connection_lost(self)
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass(slots=True)
class _Link:
    role: _Role
    conn: _Connection | None
    supervisor: asyncio.Task[None] | None = None


class SmppSession:
    """An ESME session: create, ``await start()``, call `submit` from any number of coroutines, ``await
    close()``. Not thread-safe: use it from the event loop that ran `start`."""

    def __init__(
        self,
        config: SmppConfig,
        on_deliver: Callable[[DeliverSm], Awaitable[None]],
        on_deliver_many: Callable[[list[DeliverSm]], Awaitable[None]] | None = None,
    ) -> None:
        if config.window < 1 or config.deliver_concurrency < 1:
            raise ValueError("window and deliver_concurrency must be at least 1")
        self.config = config
        self._on_deliver = on_deliver
        self._on_deliver_many = on_deliver_many
        self._stats = SessionStats()
        self._links: list[_Link] = []
        self._queue: deque[_Submission] = deque()  # waiting to be sent; retries go to the front
        self._tps_interval = 1.0 / config.tps if config.tps > 0 else 0.0
        self._next_slot = self._paused_until = 0.0
        self._pause_epoch = self._throttle_streak = self._sequence = 0
        self._timer: asyncio.TimerHandle | None = None
        self._drained = asyncio.Event()
        self._deliveries: asyncio.Queue[tuple[_Connection, DeliverSm | list[DeliverSm]]] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._started = self._closing = False
        # A run of failed deliver_sm handlers: [began, last logged, deliver_sm refused] (`_deliver_failed`).
        self._deliver_failing: list[float] | None = None

    @property
    def connected(self) -> bool:
        """True when every connection of the binding is bound (and `close` has not begun)."""
        return bool(self._links) and not self._closing and all(link.conn is not None for link in self._links)

    @property
    def stats(self) -> SessionStats:
        return dataclasses.replace(self._stats)

    async def start(self) -> None:
        """Connect and bind every connection of the binding, then keep them alive in the background.

        Raises `BindFailed` when the SMSC refuses the credentials, OSError/TimeoutError when it cannot be
        reached; nothing is left running then. After a successful start, drops are repaired by
        reconnecting with back-off (indefinitely) until `close`.
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
            link = _Link(role, conn)
            link.supervisor = asyncio.create_task(self._supervise(link, conn), name=f"smpp-{role}")
            self._links.append(link)
        self._workers = [
            asyncio.create_task(self._deliver_worker(), name="smpp-deliver")
            for _ in range(self.config.deliver_concurrency)
        ]

    async def submit(self, pdu: SubmitSm) -> SubmitOutcome:
        """Send one submit_sm and return the SMSC's verdict.

        Queues behind earlier calls (FIFO), then waits for a window slot, a bound connection, the end of
        any throttling pause and the tps budget. Overwrites ``pdu.sequence_number``. ESME_RTHROTTLED and
        ESME_RMSGQFUL pause the whole session for ``throttle_backoff_s`` (doubling while the throttling
        persists, up to 16×) and the PDU is sent again; so is a PDU whose connection dropped before its
        response (a possible duplicate: see the module docstring). Any other non-zero status is returned as
        ``ok=False``. Raises `PduError` if the PDU cannot be encoded, `SessionClosed` once `close` has
        begun. Waits as long as the SMSC is unreachable: bound it with ``asyncio.timeout`` if needed (a
        cancelled call may still have been accepted by the SMSC).
        """
        return await self.submit_nowait(pdu)

    def submit_nowait(self, pdu: SubmitSm | bytes) -> asyncio.Future[SubmitOutcome]:
        """`submit` without a coroutine: queue the PDU and return the future of its outcome (which may
        hold `PduError` or `SessionClosed`). Raises `SessionClosed` at once if the session is not running.
        For callers handing over thousands of PDUs a second, a coroutine or task per PDU is real cost.
        ``pdu`` may be a submit_sm already encoded (``submit.encode_submit_part``): its sequence_number is
        overwritten."""
        if self._closing or not self._started:
            raise SessionClosed("the session is not running")
        future: asyncio.Future[SubmitOutcome] = asyncio.get_running_loop().create_future()
        self._queue.append(_Submission(pdu, future))
        self._pump()
        return future

    def _pump(self) -> None:
        """Put queued submissions on the wire while the window, link, pause and tps budget allow."""
        queue = self._queue
        conn = self._links[0].conn if self._links else None
        if self._closing:
            self._check_drained(conn)
        if not queue or conn is None or len(conn.submits) >= self.config.window:
            return
        now = conn.loop.time()
        if self._paused_until > now:
            self._wake_at(self._paused_until)
            return
        in_flight, window, interval = conn.submits, self.config.window, self._tps_interval
        while queue and len(in_flight) < window:
            submission = queue.popleft()
            if submission.future.done():
                continue  # cancelled by its caller before it was sent
            if interval:
                slot = max(self._next_slot, now - interval)  # a late timer may catch up by one slot
                if slot > now:
                    queue.appendleft(submission)
                    self._wake_at(slot)
                    return
                self._next_slot = slot + interval
            sequence_number = self._next_sequence()
            if submission.data:
                data = submission.data
                submission.data = data[:12] + sequence_number.to_bytes(4, "big") + data[16:]
            else:
                assert submission.pdu is not None
                submission.pdu.sequence_number = sequence_number
                try:
                    submission.data = submission.pdu.encode()
                except PduError as exc:
                    submission.future.set_exception(exc)
                    continue
            submission.epoch = self._pause_epoch
            in_flight[sequence_number] = submission
            conn.send(submission.data)
            self._stats.submitted += 1

    def _wake_at(self, when: float) -> None:
        timer = self._timer
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._pump()

    def _on_submit_resp(self, submission: _Submission, resp: Pdu) -> None:
        status, future = resp.command_status, submission.future
        if status == c.ESME_ROK and isinstance(resp, SubmitSmResp):
            if self._throttle_streak and submission.epoch == self._pause_epoch:
                self._throttle_streak = 0
            if not future.done():
                future.set_result(SubmitOutcome(True, resp.message_id, status))
        elif status in c.THROTTLING_STATUSES:
            self._stats.throttled += 1
            if submission.epoch == self._pause_epoch:  # else: sent before the current pause began
                self._throttle_streak += 1
                self._pause_epoch += 1
                backoff = self.config.throttle_backoff_s * 2 ** min(self._throttle_streak - 1, 4)
                self._paused_until = asyncio.get_running_loop().time() + backoff
                log.info("SMSC throttling (%s): pausing submits for %.3f s", c.status_name(status), backoff)
            if not future.done():
                self._queue.appendleft(submission)
        elif not future.done():
            future.set_result(SubmitOutcome(False, None, status or c.ESME_RUNKNOWNERR))

    def _requeue(self, submissions: list[_Submission]) -> None:
        live = [s for s in submissions if not s.future.done()]
        if self._closing:
            for submission in live:
                submission.future.set_exception(
                    SessionClosed("connection lost while closing; outcome unknown")
                )
        else:
            self._stats.resubmitted += len(live)
            self._queue.extendleft(reversed(live))

    def _check_drained(self, conn: _Connection | None) -> None:
        if conn is None:  # closing without a link: queued retries can never go out
            while self._queue:
                submission = self._queue.popleft()
                if not submission.future.done():
                    submission.future.set_exception(SessionClosed("closed before the SMSC answered"))
        if not self._queue and (conn is None or not conn.submits):
            self._drained.set()

    def _next_sequence(self) -> int:
        self._sequence = self._sequence % c.MAX_SEQUENCE_NUMBER + 1
        return self._sequence

    def _on_request(self, conn: _Connection, pdu: Pdu) -> None:
        if isinstance(pdu, DeliverSm):
            self._stats.delivered += 1
            if self._on_deliver_many is not None:
                conn.delivers.append(pdu)  # handed over together at the end of this read
            else:
                self._deliveries.put_nowait((conn, pdu))
        elif isinstance(pdu, EnquireLink):
            conn.send(EnquireLinkResp(c.ESME_ROK, pdu.sequence_number).encode())
        elif isinstance(pdu, Unbind):
            log.warning("the SMSC unbound the %s connection", conn.role)
            conn.send(UnbindResp(c.ESME_ROK, pdu.sequence_number).encode())
            conn.loop.call_soon(conn.close)
        else:
            conn.send(GenericNack(c.ESME_RINVCMDID, pdu.sequence_number).encode())

    def _deliver_read(self, conn: _Connection) -> None:
        """The deliver_sm PDUs of one read, as one batch (``on_deliver_many`` mode)."""
        batch, conn.delivers = conn.delivers, []
        self._deliveries.put_nowait((conn, batch))

    async def _deliver_worker(self) -> None:
        while True:
            conn, item = await self._deliveries.get()
            if isinstance(item, list):
                await self._deliver_batch(conn, item)
                continue
            pdu = item
            status = c.ESME_ROK
            try:
                await self._on_deliver(pdu)
                self._deliver_succeeded()
            except Exception:
                self._deliver_failed("on_deliver", 1)
                status = c.ESME_RX_T_APPN
            if not conn.lost:
                conn.send(DeliverSmResp("", status, pdu.sequence_number).encode())

    async def _deliver_batch(self, conn: _Connection, pdus: list[DeliverSm]) -> None:
        assert self._on_deliver_many is not None
        status = c.ESME_ROK
        try:
            await self._on_deliver_many(pdus)
            self._deliver_succeeded()
        except Exception:
            self._deliver_failed("on_deliver_many", len(pdus))
            status = c.ESME_RX_T_APPN
        if not conn.lost:
            for pdu in pdus:
                conn.send(DeliverSmResp("", status, pdu.sequence_number).encode())

    def _deliver_failed(self, handler: str, pdus: int) -> None:
        """Count a failed handler (called in its ``except``). The first failure of a run is logged with its
        traceback, then a count once a minute: a handler that fails on every redelivery (its database is
        down or full) writes a few lines, not a traceback per deliver_sm."""
        self._stats.deliver_errors += pdus
        now = asyncio.get_running_loop().time()
        if self._deliver_failing is None:
            self._deliver_failing = [now, now, 0]
            log.exception("%s failed; answering ESME_RX_T_APPN so that the SMSC retries", handler)
        elif now - self._deliver_failing[1] >= DELIVER_FAILURE_REMINDER_S:
            self._deliver_failing[1] = now
            log.warning(
                "%s still failing: %d deliver_sm answered ESME_RX_T_APPN in %.0f s",
                handler,
                self._deliver_failing[2] + pdus,
                now - self._deliver_failing[0],
            )
        self._deliver_failing[2] += pdus

    def _deliver_succeeded(self) -> None:
        if self._deliver_failing is not None:
            log.info("deliver_sm handled again after %d refused", self._deliver_failing[2])
            self._deliver_failing = None

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
        for link in self._links:
            if link.conn is conn:
                link.conn = None
                if not self._closing:
                    self._stats.disconnects += 1
        submissions, conn.submits = list(conn.submits.values()), {}
        self._requeue(submissions)
        if self._closing:
            self._check_drained(None)

    async def _supervise(self, link: _Link, conn: _Connection) -> None:
        cfg = self.config
        while True:
            await asyncio.shield(conn.closed)  # cancelling the supervisor must not resolve `closed`
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
            if not conn.lost:
                link.conn = conn
                self._pump()

    async def _keepalive(self, conn: _Connection) -> None:
        """Send enquire_link after ``enquire_link_s`` without traffic; drop the connection when a request
        has waited longer than ``response_timeout_s`` (the pending ones are then resubmitted)."""
        cfg = self.config
        tick = min(1.0, max(0.005, min(cfg.enquire_link_s, cfg.response_timeout_s) / 4))
        first_seen: dict[int, float] = {}
        while not conn.lost:
            await asyncio.sleep(tick)
            now = conn.loop.time()
            for seq in [seq for seq, fut in conn.requests.items() if fut.done()]:
                del conn.requests[seq]  # abandoned by a cancelled caller
            # At most window + 3 requests are pending: scanning them per tick is cheaper than stamping each
            # request when sent. A request is stamped when first seen, so a timeout is late by up to a tick.
            first_seen = {seq: first_seen.get(seq, now) for seq in (*conn.submits, *conn.requests)}
            if first_seen and now - min(first_seen.values()) >= cfg.response_timeout_s:
                log.warning("SMPP %s: no response within %.1f s; dropping", conn.role, cfg.response_timeout_s)
                conn.abort()
                return
            if not conn.enquiring and now - conn.last_rx >= cfg.enquire_link_s:
                conn.enquiring = True
                self._stats.enquire_links_sent += 1
                sequence_number = self._next_sequence()
                fut = conn.request(EnquireLink(sequence_number).encode(), sequence_number)
                fut.add_done_callback(functools.partial(_enquire_done, conn))

    def abandon_queued(self) -> int:
        """Cancel the submissions not sent yet (those in flight stay); returns how many. For an owner that
        died: nothing it can no longer record may reach the SMSC after it."""
        abandoned = 0
        while self._queue:
            submission = self._queue.popleft()
            if not submission.future.done():
                submission.future.cancel()
                abandoned += 1
        return abandoned

    async def close(self, drain_timeout_s: float | None = None) -> None:
        """Refuse new submits (queued, never-sent ones raise `SessionClosed`), wait up to
        ``drain_timeout_s`` (default ``response_timeout_s``) for those in flight, unbind each connection
        politely and close everything. Calls still unanswered after the wait raise `SessionClosed`.
        Idempotent."""
        if self._closing:
            return
        self._closing = True
        timeout = self.config.response_timeout_s if drain_timeout_s is None else drain_timeout_s
        never_sent = [s for s in self._queue if not s.data]
        self._queue = deque(s for s in self._queue if s.data)
        for submission in never_sent:
            if not submission.future.done():
                submission.future.set_exception(SessionClosed("the session closed before this was sent"))
        self._pump()
        try:
            await asyncio.wait_for(self._drained.wait(), timeout)
        except TimeoutError:
            log.warning("closing with submits still unanswered after %.1f s", timeout)
        for link in self._links:
            if link.supervisor is not None:
                link.supervisor.cancel()
        conns = [link.conn for link in self._links if link.conn is not None]
        for conn in conns:
            sequence_number = self._next_sequence()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    conn.request(Unbind(sequence_number).encode(), sequence_number), timeout
                )
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(conn.closed), 1.0)
        for conn in conns:
            conn.abort()
            self._connection_lost(conn)  # fails whatever is still in flight with SessionClosed
        if self._timer is not None:
            self._timer.cancel()
        self._check_drained(None)
        tasks = [*self._workers, *(link.supervisor for link in self._links if link.supervisor)]
        tasks += [conn.keepalive for conn in conns if conn.keepalive is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _enquire_done(conn: _Connection, fut: asyncio.Future[Pdu]) -> None:
    conn.enquiring = False
    if not fut.cancelled():
        fut.exception()  # retrieve it, so that a lost connection is not logged as "never retrieved"
