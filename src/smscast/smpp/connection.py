"""One TCP connection of an `SmppSession`: framing, correlation by sequence_number, coalesced writes.

The connection decodes what it reads and hands every PDU to its session (``session.SmppSession``) through
the `ConnectionOwner` hooks: responses to submit_sm by sequence_number, requests from the SMSC, the end of
each read, the loss of the connection. It owns no policy: windows, retries and deliver_sm answers are the
session's.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable
from typing import Any, Literal, Protocol

from smscast.smpp import constants as c
from smscast.smpp.fast import FastPduReader, ReceiptSm
from smscast.smpp.pdu import DeliverSm, GenericNack, Pdu, PduError, SubmitSm
from smscast.smpp.session_types import SubmitOutcome, _ConnectionLost

log = logging.getLogger("smscast.smpp")
Role = Literal["transceiver", "transmitter", "receiver"]
_HEADER = struct.Struct(">IIII")
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


OutcomeCallback = Callable[[int, SubmitOutcome | BaseException], None]


class Submission:
    """A submit_sm queued or in flight, and whom to tell how it ended: a future (`SmppSession.submit`), or
    a callback with the caller's index (`SmppSession.submit_each`: no future, no done-callback, no extra
    loop iteration per PDU). Either is told once; `done` says whether it was."""

    __slots__ = ("callback", "data", "epoch", "future", "index", "pdu", "sent")

    def __init__(
        self,
        pdu: SubmitSm | bytes,
        future: asyncio.Future[SubmitOutcome] | None,
        callback: OutcomeCallback | None = None,
        index: int = 0,
    ) -> None:
        self.future, self.callback, self.index = future, callback, index
        if isinstance(pdu, bytes):
            self.pdu: SubmitSm | None = None
            self.data = pdu  # encoded by the caller; sending patches in the sequence_number
        else:
            self.pdu = pdu
            self.data = b""  # the encoded PDU once sent; retries only patch the sequence_number
        self.epoch = 0  # the throttling epoch it was sent in
        self.sent = False  # put on the wire at least once (queued again after a throttle or a drop)

    def done(self) -> bool:
        """Told already (or, for a future, cancelled by its caller)."""
        return self.future.done() if self.future is not None else self.callback is None

    def resolve(self, outcome: SubmitOutcome | BaseException) -> None:
        """Tell the outcome (a `SubmitOutcome`, or the exception ``submit`` raises), unless told already."""
        future = self.future
        if future is not None:
            if not future.done():
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
            return
        callback, self.callback = self.callback, None
        if callback is not None:
            try:
                callback(self.index, outcome)
            except Exception:  # the caller's bug must not break the connection that answered
                log.exception("submit_each callback failed")

    def cancel(self) -> bool:
        """Cancel a submission not told yet (its callback gets `asyncio.CancelledError`); False if told."""
        if self.future is not None:
            return self.future.cancel()
        if self.callback is None:
            return False
        self.resolve(asyncio.CancelledError())
        return True


class ConnectionOwner(Protocol):
    """What a `Connection` calls on its session (``SmppSession``'s private hooks)."""

    def _on_submit_resp(self, submission: Submission, resp: Pdu) -> None: ...

    def _on_request(self, conn: Connection, pdu: Pdu | ReceiptSm) -> None: ...

    def _deliver_read(self, conn: Connection) -> None: ...

    def _pump(self) -> None: ...

    def _requeue(self, submissions: list[Submission]) -> None: ...

    def _connection_lost(self, conn: Connection) -> None: ...


class Connection(asyncio.Protocol):
    """One TCP connection: framing, correlation by sequence_number, writes coalesced per loop iteration."""

    def __init__(
        self, session: ConnectionOwner, role: Role, loop: asyncio.AbstractEventLoop, receipts: bool = False
    ) -> None:
        self.session, self.role, self.loop = session, role, loop
        self.transport: asyncio.Transport | None = None
        self.reader = FastPduReader(receipts)
        self.submits: dict[int, Submission] = {}  # in flight, in send order
        self.requests: dict[int, asyncio.Future[Pdu]] = {}  # bind, enquire_link, unbind
        self.closed: asyncio.Future[None] = loop.create_future()
        self.lost = self.enquiring = False
        self.last_rx = loop.time()
        self.keepalive: asyncio.Task[None] | None = None
        self._out: list[bytes] = []
        self.delivers: list[DeliverSm] = []  # of the read being handled (on_deliver_many mode)
        self.receipts: list[ReceiptSm] = []  # of the read being handled (on_receipts mode)
        self._sock: Any = None  # the TCP socket, when the platform can acknowledge at once (TCP_QUICKACK)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if _QUICKACK is not None and sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            self._sock = sock

    def send(self, data: bytes) -> None:
        if not self._out:
            self.loop.call_soon(self._flush)
        self._out.append(data)

    def send_all(self, data: list[bytes]) -> None:
        """`send` each, in order."""
        if not self._out:
            self.loop.call_soon(self._flush)
        self._out += data

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
        if self._sock is not None:
            # Acknowledge what was read at once. Linux delays an ACK (up to 40 ms) while it has nothing to
            # send back, and an SMSC with Nagle's algorithm on (node's and Java's sockets by default) holds
            # its next responses until that ACK: with a full window, that stall was most of its round trip.
            self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
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
            elif isinstance(item, ReceiptSm):
                session._on_request(self, item)
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
        if self.delivers or self.receipts:
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
