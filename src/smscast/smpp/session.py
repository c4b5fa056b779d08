"""The ESME side of SMPP 3.4 over asyncio: bind, submit through a window, receive deliver_sm, stay alive.

`SmppSession` owns one binding (a transceiver connection, or a transmitter plus a receiver connection)
and keeps it up: enquire_link when a link is idle, reconnect with exponential back-off and rebind when it
drops, slow the whole session down when the SMSC throttles. Callers see `submit` (one SubmitSm in, one
`SubmitOutcome` out) and the ``on_deliver`` callback.

How it works: `submit` queues the PDU and awaits a future. A synchronous pump moves queued PDUs onto the
wire whenever a window slot, the connection, the throttling pause and the tps budget allow; it runs when a
PDU is queued, when a batch of responses arrives, when a link is rebound and on a timer. Responses are
matched by sequence_number in a dict. So a message costs one wake-up of its caller however many
coroutines call `submit`, and retries never wake the caller. One TCP connection (framing, correlation,
coalesced writes) is a ``connection.Connection``; deliver_sm handling is ``delivery.Deliveries``.

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
- ``on_receipts`` is the same for a caller that only wants receipts: it gets the ``receipt_report`` of
  each receipt of the read (read straight from the bytes; the other deliver_sm are answered alike).
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
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from smscast.smpp import constants as c
from smscast.smpp.connection import Connection, OutcomeCallback, Role, Submission
from smscast.smpp.delivery import Deliveries
from smscast.smpp.fast import ReceiptSm
from smscast.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DeliverSm,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    PduError,
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

log = logging.getLogger("smscast.smpp")
_SEQUENCE = struct.Struct(">I")
_BIND_PDUS = {"transceiver": BindTransceiver, "transmitter": BindTransmitter, "receiver": BindReceiver}


@dataclass(slots=True)
class _Link:
    role: Role
    conn: Connection | None
    supervisor: asyncio.Task[None] | None = None


class SmppSession:
    """An ESME session: create, ``await start()``, call `submit` from any number of coroutines, ``await
    close()``. Not thread-safe: use it from the event loop that ran `start`."""

    def __init__(
        self,
        config: SmppConfig,
        on_deliver: Callable[[DeliverSm], Awaitable[None]],
        on_deliver_many: Callable[[list[DeliverSm]], Awaitable[None]] | None = None,
        on_receipts: Callable[[list[tuple[str, str, str]]], Awaitable[None]] | None = None,
    ) -> None:
        if config.window < 1 or config.deliver_concurrency < 1:
            raise ValueError("window and deliver_concurrency must be at least 1")
        self.config = config
        self._stats = SessionStats()
        self._deliveries = Deliveries(on_deliver, on_deliver_many, self._stats, on_receipts)
        self._receipts_only = on_receipts is not None
        self._links: list[_Link] = []
        self._queue: deque[Submission] = deque()  # waiting to be sent; retries go to the front
        self._tps_interval = 1.0 / config.tps if config.tps > 0 else 0.0
        self._next_slot = self._paused_until = 0.0
        self._pause_epoch = self._throttle_streak = self._sequence = 0
        self._timer: asyncio.TimerHandle | None = None
        self._drained = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._started = self._closing = False

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
        roles: list[Role] = (
            ["transceiver"] if self.config.bind == "transceiver" else ["transmitter", "receiver"]
        )
        conns: list[Connection] = []
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
            asyncio.create_task(self._deliveries.worker(), name="smpp-deliver")
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
        self._queue.append(Submission(pdu, future))
        self._pump()
        return future

    def submit_each(self, pdus: Iterable[tuple[int, bytes]], on_outcome: OutcomeCallback) -> None:
        """`submit_nowait` for many encoded submit_sm (``submit.encode_submit_part``) without a future each:
        ``on_outcome(index, outcome)`` is called once per ``(index, pdu)`` pair, from the event loop and
        never from inside this call, with the `SubmitOutcome`, or the exception `submit` would raise
        (`SessionClosed`; `asyncio.CancelledError` when `abandon_queued` dropped it). Raises
        `SessionClosed` at once, having queued nothing, if the session is not running."""
        if self._closing or not self._started:
            raise SessionClosed("the session is not running")
        self._queue.extend(Submission(data, None, on_outcome, index) for index, data in pdus)
        self._pump()

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
        epoch, sent = self._pause_epoch, []
        while queue and len(in_flight) < window:
            submission = queue.popleft()
            if submission.done():
                continue  # cancelled by its caller before it was sent
            if interval:
                slot = max(self._next_slot, now - interval)  # a late timer may catch up by one slot
                if slot > now:
                    queue.appendleft(submission)
                    self._wake_at(slot)
                    break
                self._next_slot = slot + interval
            self._sequence = sequence_number = self._sequence % c.MAX_SEQUENCE_NUMBER + 1
            data = submission.data
            if data:
                submission.data = data = data[:12] + _SEQUENCE.pack(sequence_number) + data[16:]
            else:
                assert submission.pdu is not None
                submission.pdu.sequence_number = sequence_number
                try:
                    submission.data = data = submission.pdu.encode()
                except PduError as exc:
                    submission.resolve(exc)
                    continue
            submission.epoch = epoch
            submission.sent = True
            in_flight[sequence_number] = submission
            sent.append(data)
        if sent:
            conn.send_all(sent)
            self._stats.submitted += len(sent)

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

    def _on_submit_resp(self, submission: Submission, resp: Pdu) -> None:
        status = resp.command_status
        if status == c.ESME_ROK and isinstance(resp, SubmitSmResp):
            if self._throttle_streak and submission.epoch == self._pause_epoch:
                self._throttle_streak = 0
            submission.resolve(SubmitOutcome(True, resp.message_id, status))
        elif status in c.THROTTLING_STATUSES:
            self._stats.throttled += 1
            if submission.epoch == self._pause_epoch:  # else: sent before the current pause began
                self._throttle_streak += 1
                self._pause_epoch += 1
                backoff = self.config.throttle_backoff_s * 2 ** min(self._throttle_streak - 1, 4)
                self._paused_until = asyncio.get_running_loop().time() + backoff
                log.info("SMSC throttling (%s): pausing submits for %.3f s", c.status_name(status), backoff)
            if not submission.done():
                self._queue.appendleft(submission)
        elif not submission.done():
            submission.resolve(SubmitOutcome(False, None, status or c.ESME_RUNKNOWNERR))

    def _requeue(self, submissions: list[Submission]) -> None:
        live = [s for s in submissions if not s.done()]
        if self._closing:
            for submission in live:
                submission.resolve(SessionClosed("connection lost while closing; outcome unknown"))
        else:
            self._stats.resubmitted += len(live)
            self._queue.extendleft(reversed(live))

    def _check_drained(self, conn: Connection | None) -> None:
        if conn is None:  # closing without a link: queued retries can never go out
            while self._queue:
                self._queue.popleft().resolve(SessionClosed("closed before the SMSC answered"))
        if not self._queue and (conn is None or not conn.submits):
            self._drained.set()

    def _next_sequence(self) -> int:
        self._sequence = self._sequence % c.MAX_SEQUENCE_NUMBER + 1
        return self._sequence

    def _deliver_read(self, conn: Connection) -> None:
        self._deliveries.read_done(conn)

    def _on_request(self, conn: Connection, pdu: Pdu | ReceiptSm) -> None:
        if isinstance(pdu, DeliverSm | ReceiptSm):
            self._deliveries.received(conn, pdu)
        elif isinstance(pdu, EnquireLink):
            conn.send(EnquireLinkResp(c.ESME_ROK, pdu.sequence_number).encode())
        elif isinstance(pdu, Unbind):
            log.warning("the SMSC unbound the %s connection", conn.role)
            conn.send(UnbindResp(c.ESME_ROK, pdu.sequence_number).encode())
            conn.loop.call_soon(conn.close)
        else:
            conn.send(GenericNack(c.ESME_RINVCMDID, pdu.sequence_number).encode())

    async def _connect(self, role: Role) -> Connection:
        loop = asyncio.get_running_loop()
        conn = Connection(self, role, loop, self._receipts_only)
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

    def _connection_lost(self, conn: Connection) -> None:
        for link in self._links:
            if link.conn is conn:
                link.conn = None
                if not self._closing:
                    self._stats.disconnects += 1
        submissions, conn.submits = list(conn.submits.values()), {}
        self._requeue(submissions)
        if self._closing:
            self._check_drained(None)

    async def _supervise(self, link: _Link, conn: Connection) -> None:
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

    async def _keepalive(self, conn: Connection) -> None:
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
            abandoned += self._queue.popleft().cancel()
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
        # Encoded by the caller is not sent: only a submission that went out before (and waits to go
        # again after a throttle or a dropped link) is still sent, to learn how it ended.
        never_sent = [s for s in self._queue if not s.sent]
        self._queue = deque(s for s in self._queue if s.sent)
        for submission in never_sent:
            submission.resolve(SessionClosed("the session closed before this was sent"))
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


def _enquire_done(conn: Connection, fut: asyncio.Future[Pdu]) -> None:
    conn.enquiring = False
    if not fut.cancelled():
        fut.exception()  # retrieve it, so that a lost connection is not logged as "never retrieved"
