"""Baseline: the least code that pushes submit_sm through an SMSC (asyncio.Protocol + struct, no library).

Binds as transceiver, keeps ``window`` submit_sm outstanding, answers deliver_sm and enquire_link, and
prints msg/s once ``n`` submit_sm_resp have arrived. No reconnect, throttling or error handling: it is the
yardstick that smscast's SmppSession (and the end-to-end campaign benchmark) is divided by.

    python bench/raw_smpp_client.py -n 20000                 # starts the node simulator itself
    python bench/raw_smpp_client.py -n 20000 --port 2775     # against a running SMSC
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HEADER = struct.Struct(">IIII")
BIND_TRANSCEIVER, SUBMIT_SM, DELIVER_SM, ENQUIRE_LINK = 0x09, 0x04, 0x05, 0x15
RESP = 0x80000000


@dataclass
class RawResult:
    messages: int
    seconds: float  # until the last submit_sm_resp
    receipts: int
    receipts_seconds: float | None = None  # until the last receipt (when all came within drain_s)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def rate_with_receipts(self) -> float | None:
        """Messages per second until every receipt arrived: the same work as a campaign whose receipts
        are all applied."""
        return None if self.receipts_seconds is None else self.messages / self.receipts_seconds


def submit_sm(sequence_number: int, destination: bytes, text: bytes, registered_delivery: int) -> bytes:
    body = (
        b"\x00\x05\x00Acme\x00\x01\x01" + destination + b"\x00\x00\x00\x00\x00\x00"
        + bytes((registered_delivery, 0, 0, 0, len(text))) + text
    )  # fmt: skip
    return HEADER.pack(16 + len(body), SUBMIT_SM, 0, sequence_number) + body


DEFAULT_TEXT = b"Hello from the raw client"


class RawClient(asyncio.Protocol):
    def __init__(
        self,
        n: int,
        window: int,
        system_id: str,
        password: str,
        registered_delivery: int,
        text: bytes = DEFAULT_TEXT,
    ) -> None:
        self.n, self.window, self.registered_delivery, self.text = n, window, registered_delivery, text
        self.bind = system_id.encode() + b"\x00" + password.encode() + b"\x00\x00\x34\x00\x00\x00"
        self.buffer = b""
        self.sent = self.acked = self.receipts = 0
        self.receipts_done: float | None = None
        self.started = 0.0
        self.done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(HEADER.pack(16 + len(self.bind), BIND_TRANSCEIVER, 0, 1) + self.bind)

    def send_next(self) -> None:
        assert self.transport is not None
        self.sent += 1
        destination = b"3069%08d" % self.sent
        self.transport.write(submit_sm(self.sent + 1, destination, self.text, self.registered_delivery))

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        buf = self.buffer + data
        pos = 0
        while len(buf) - pos >= 16:
            length, command_id, status, seq = HEADER.unpack_from(buf, pos)
            if len(buf) - pos < length:
                break
            pos += length
            if command_id == SUBMIT_SM | RESP:
                self.acked += 1
                if self.acked == self.n and not self.done.done():
                    self.done.set_result(time.perf_counter() - self.started)
                elif self.sent < self.n:
                    self.send_next()
            elif command_id == DELIVER_SM:
                self.receipts += 1
                if self.receipts == self.n:
                    self.receipts_done = time.perf_counter() - self.started
                self.transport.write(HEADER.pack(17, DELIVER_SM | RESP, 0, seq) + b"\x00")
            elif command_id == ENQUIRE_LINK:
                self.transport.write(HEADER.pack(16, ENQUIRE_LINK | RESP, 0, seq))
            elif command_id == BIND_TRANSCEIVER | RESP:
                if status != 0:
                    self.done.set_exception(RuntimeError(f"bind failed: 0x{status:08X}"))
                    return
                self.started = time.perf_counter()
                for _ in range(min(self.window, self.n)):
                    self.send_next()
        self.buffer = buf[pos:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"connection lost after {self.acked} acks: {exc}"))


async def run_raw(
    host: str,
    port: int,
    system_id: str,
    password: str,
    n: int,
    window: int = 100,
    receipts: bool = False,
    drain_s: float = 0.0,
    text: bytes = DEFAULT_TEXT,
) -> RawResult:
    """Submit ``n`` messages and return the measured rate (acks only; receipts are answered, not awaited).
    ``text``: each message's text (GSM characters that are ASCII, one part).

    ``drain_s`` > 0: before disconnecting, wait up to that long for the receipts of every message, so that
    none is handed to another session bound with the same system_id (the timing is unaffected)."""
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_connection(
        lambda: RawClient(n, window, system_id, password, 1 if receipts else 0, text), host, port
    )
    try:
        seconds = await client.done
        deadline = loop.time() + drain_s
        while receipts and client.receipts < n and loop.time() < deadline:  # noqa: ASYNC110 (a yardstick)
            await asyncio.sleep(0.01)
    finally:
        transport.close()
    return RawResult(n, seconds, client.receipts, client.receipts_done)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--receipts", action="store_true", help="request and answer delivery receipts")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="an SMSC already listening; default: start the simulator")
    parser.add_argument("--system-id", default="smscast")
    parser.add_argument("--password", default="secret")
    args = parser.parse_args()
    if args.port:
        result = asyncio.run(
            run_raw(args.host, args.port, args.system_id, args.password, args.n, args.window, args.receipts)
        )
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fixtures"))
        from smsc_sim import smsc_simulator

        with smsc_simulator(record=False, receipts=args.receipts) as smsc:
            result = asyncio.run(
                run_raw(
                    smsc.host, smsc.port, smsc.system_id, smsc.password, args.n, args.window, args.receipts
                )
            )
    print(
        f"raw asyncio client: {result.messages} submit_sm in {result.seconds:.3f} s"
        f" = {result.rate:,.0f} msg/s"
    )


if __name__ == "__main__":
    main()
