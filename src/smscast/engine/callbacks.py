"""The webhook sender loop: POSTs due outbox deliveries concurrently, records each attempt.

Each delivery is its own task (up to ``concurrency`` at once), so a slow or dead receiver only occupies
its own tasks while the others go on; attempts are recorded in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx

from smscast.db.callbacks import DueCallback
from smscast.db.errors import FaultLog
from smscast.domain import callbacks as rules
from smscast.services.callbacks import Attempt, CallbackService

log = logging.getLogger("smscast.callbacks")
RECORD_LINGER_S = 0.02
PER_ORIGIN = 16  # connections to one receiver at once


class CallbackSender:
    def __init__(
        self,
        service: CallbackService,
        timeout_s: float,
        *,
        concurrency: int = 128,
        idle_s: float = 0.25,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.service = service
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.idle_s = idle_s
        self.transport = transport
        self._clients: dict[tuple[str, str, int | None], httpx.AsyncClient] = {}
        self.faults = FaultLog(log)  # a database down, full or read-only: one line, not one per retry

    async def run(self, stop: asyncio.Event) -> None:
        self._clients = {}
        async with contextlib.AsyncExitStack() as clients:
            in_flight: set[asyncio.Task[Attempt]] = set()
            while not stop.is_set() or in_flight:
                # Claim in batches: when half the slots are free (or none is busy), not one slot at a time.
                free = self.concurrency - len(in_flight)
                if not stop.is_set() and (free >= self.concurrency // 2 or not in_flight):
                    try:
                        due = await asyncio.to_thread(self.service.claim, free)
                        self.faults.succeeded("callback claim")
                    except Exception as exc:
                        self.faults.failure("callback claim", exc, self.idle_s)
                        due = []
                    for callback in due:
                        client = await self._client_for(clients, callback.url)
                        in_flight.add(asyncio.create_task(self._deliver(client, callback)))
                if not in_flight:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.idle_s)
                    continue
                done, in_flight = await asyncio.wait(
                    in_flight, timeout=self.idle_s, return_when="FIRST_COMPLETED"
                )
                if not done:
                    continue
                # Let the answers of the same burst arrive, so one write records many attempts.
                if in_flight:
                    more, in_flight = await asyncio.wait(in_flight, timeout=RECORD_LINGER_S)
                    done |= more
                attempts = [task.result() for task in done]
                while True:
                    try:
                        await asyncio.to_thread(self.service.record, attempts)
                        self.faults.succeeded("callback record")
                        break
                    except Exception as exc:
                        self.faults.failure("callback record", exc, 1.0)
                        await asyncio.sleep(1.0)

    async def _client_for(self, clients: contextlib.AsyncExitStack, url: str) -> httpx.AsyncClient:
        """One client (connection pool) per receiver origin: a slow receiver fills its own pool only, and
        httpcore's per-request pool scan stays short."""
        try:
            parts = httpx.URL(url)
            origin = (parts.scheme, parts.host, parts.port)
        except Exception:
            origin = ("", url, None)
        client = self._clients.get(origin)
        if client is None:
            limits = httpx.Limits(max_connections=PER_ORIGIN, max_keepalive_connections=PER_ORIGIN)
            client = await clients.enter_async_context(
                httpx.AsyncClient(
                    timeout=self.timeout_s, follow_redirects=False, limits=limits, transport=self.transport
                )
            )
            self._clients[origin] = client
        return client

    async def _deliver(self, client: httpx.AsyncClient, callback: DueCallback) -> Attempt:
        body = callback.payload.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "smscast-webhooks",
            rules.DELIVERY_HEADER: str(callback.id),
            rules.ATTEMPT_HEADER: str(callback.attempts + 1),
        }
        if callback.signing_key:
            headers[rules.SIGNATURE_HEADER] = rules.signature(callback.signing_key, body)
        try:
            response = await client.post(callback.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Attempt(callback, False, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a malformed URL must not stop the loop
            return Attempt(callback, False, f"{type(exc).__name__}: {exc}")
        if 200 <= response.status_code < 300:
            return Attempt(callback, True)
        return Attempt(callback, False, f"HTTP {response.status_code}")
