"""Webhooks against a real HTTP receiver on 127.0.0.1: signed, in the documented shape, retried when the
receiver fails or is down, concurrent when it is slow, and kept across a restart (api.md §6)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smscast.api.app import create_app
from smscast.bootstrap import Container, build_container
from smscast.carriers.sandbox import SandboxCarrier
from smscast.db.callbacks import CallbackRepository
from smscast.domain import callbacks as rules
from smscast.engine.runner import EngineSettings
from smscast.settings import Settings
from tests.conftest import Tenant, new_tenant
from tests.engine_harness import running_engine, wait_for

FAST = EngineSettings(idle_s=0.02, scheduler_every_s=0.05, maintenance_every_s=0.2)
NUMBERS = [f"+3069485{n:05d}" for n in range(1, 11)]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    slow_in_flight: int

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass
class Receiver:
    """/ok answers 200; /fail2 answers 500 to the first two attempts of each delivery; /slow answers 200
    after ``slow_s``."""

    port: int = 0
    slow_s: float = 1.0
    received: list[Received] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    slow_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                delivery = self.headers.get(rules.DELIVERY_HEADER, "")
                with receiver.lock:
                    receiver.attempts[delivery] = receiver.attempts.get(delivery, 0) + 1
                    attempt = receiver.attempts[delivery]
                    in_flight = receiver.slow_in_flight
                status = 200
                if self.path == "/fail2" and attempt <= 2:
                    status = 500
                if self.path == "/slow":
                    with receiver.lock:
                        receiver.slow_in_flight += 1
                    time.sleep(receiver.slow_s)
                    with receiver.lock:
                        receiver.slow_in_flight -= 1
                if status == 200:
                    with receiver.lock:
                        receiver.received.append(Received(self.path, dict(self.headers), body, in_flight))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the sender opens up to 128 connections at once

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.stop()


@pytest.fixture
def fast_retry(isolated_database_url: str) -> Iterator[tuple[Container, TestClient]]:
    settings = Settings(
        database_url=isolated_database_url, callback_timeout_s=3.0, callback_retry_s=(1, 1, 1)
    )
    container = build_container(settings)
    try:
        with TestClient(create_app(container), raise_server_exceptions=False) as http:
            yield container, http
    finally:
        container.close()


def outbox_settled(container: Container) -> bool:
    with container.db.read() as conn:
        return CallbackRepository(conn).counts("pending") == 0


def state(tenant: Tenant, tracking_id: str) -> str:
    value: str = tenant.get(f"/campaigns/{tracking_id}").json()["state"]
    return value


def test_on_change_callbacks_are_signed_and_shaped(
    fast_retry: tuple[Container, TestClient], receiver: Receiver
) -> None:
    container, http = fast_retry
    tenant = new_tenant(container, http)
    campaign = tenant.post(
        "/sms/campaign",
        json={
            "body": "Hello [~firstName]",
            "from": "ACME",
            "to": NUMBERS,
            "campaignName": "Hooks",
            "callback": {"url": receiver.url("/ok"), "strategy": "OnChange"},
            "campaignCallback": {"url": receiver.url("/ok"), "strategy": "OnChange"},
        },
    ).json()
    with running_engine(container, SandboxCarrier(dlr_delay_ms=30), FAST):
        wait_for(lambda: state(tenant, campaign["trackingId"]) == "Finished", what="finished")
        wait_for(lambda: outbox_settled(container), what="outbox delivered")
    received = receiver.at("/ok")
    for item in received:
        assert rules.verify(tenant.application_secret, item.body, item.headers[rules.SIGNATURE_HEADER])
        assert item.headers[rules.ATTEMPT_HEADER] == "1" and item.headers[rules.DELIVERY_HEADER].isdigit()
    messages = [r.json for r in received if "smsId" in r.json]
    campaigns = [r.json for r in received if "campaignStatus" in r.json]
    # one per part per status change: Sent, then Delivered
    by_part: dict[str, list[str]] = {}
    for payload in messages:
        by_part.setdefault(payload["smsId"], []).append(payload["status"]["name"])
    assert len(by_part) == 10 and all(sorted(v) == ["Delivered", "Sent"] for v in by_part.values())
    sample = next(p for p in messages if p["status"]["name"] == "Delivered")
    assert set(sample) >= {
        "messageId", "smsId", "campaignTrackingId", "campaignName", "part", "parts", "to", "from", "country",
        "groups", "message", "applicationName", "price", "direction", "originatingService", "status",
    }  # fmt: skip
    assert sample["campaignName"] == "Hooks" and sample["message"] == "Hello "
    assert sample["status"]["reason"] == {
        "detailedStatus": "Delivered",
        "description": "The message was delivered to the handset",
    }
    assert sample["status"]["updatedDate"].endswith("Z") and sample["direction"] == "Outbound"
    # Deliveries run concurrently, so arrival order is not the order of events.
    states = [c["campaignStatus"] for c in campaigns]
    assert {"Running", "Sent", "Finished"} <= set(states) and states.count("Finished") == 1
    final = next(c for c in campaigns if c["campaignStatus"] == "Finished")
    assert final["trackingId"] == campaign["trackingId"] and final["name"] == "Hooks"
    assert final["totalRecipients"] == 10 and final["messageStatuses"]["Delivered"] == 10
    assert final["callbackInfo"] == {"url": receiver.url("/ok"), "strategy": "OnChange"}


def test_on_completion_reports_final_statuses_only(
    fast_retry: tuple[Container, TestClient], receiver: Receiver
) -> None:
    container, http = fast_retry
    tenant = new_tenant(container, http)
    campaign = tenant.post(
        "/sms/campaign",
        json={
            "body": "Hi",
            "from": "ACME",
            "to": NUMBERS[:4],
            "callback": {"url": receiver.url("/ok"), "strategy": "OnCompletion"},
            "campaignCallback": {"url": receiver.url("/ok"), "strategy": "OnCompletion"},
        },
    ).json()
    single = tenant.post(
        "/sms",
        json={"body": "x", "to": NUMBERS[5], "from": "ACME", "callback": {"url": receiver.url("/ok")}},
    ).json()
    with running_engine(container, SandboxCarrier(dlr_delay_ms=30), FAST):
        wait_for(lambda: state(tenant, campaign["trackingId"]) == "Finished", what="finished")
        wait_for(lambda: outbox_settled(container), what="outbox delivered")
    payloads = [r.json for r in receiver.at("/ok")]
    parts = [p for p in payloads if p.get("campaignTrackingId") == campaign["trackingId"]]
    assert sorted(p["status"]["name"] for p in parts) == ["Delivered"] * 4
    assert [p["campaignStatus"] for p in payloads if "campaignStatus" in p] == ["Finished"]
    # a single message's callback defaults to OnChange: Sent and Delivered (arrival order is not promised)
    single_statuses = [p["status"]["name"] for p in payloads if p.get("messageId") == single["trackingId"]]
    assert sorted(single_statuses) == ["Delivered", "Sent"]


def test_failing_receiver_gets_every_callback_after_retries(
    fast_retry: tuple[Container, TestClient], receiver: Receiver
) -> None:
    container, http = fast_retry
    tenant = new_tenant(container, http)
    tenant.post(
        "/sms/campaign",
        json={"body": "Hi", "from": "ACME", "to": NUMBERS[:3], "callback": {"url": receiver.url("/fail2")}},
    )
    with running_engine(container, SandboxCarrier(dlr_delay_ms=30), FAST):
        wait_for(lambda: len(receiver.at("/fail2")) == 6, timeout=60, what="6 callbacks after retries")
    got = receiver.at("/fail2")
    assert {r.headers[rules.ATTEMPT_HEADER] for r in got} == {"3"}
    assert len({r.headers[rules.DELIVERY_HEADER] for r in got}) == 6


def test_slow_receiver_does_not_hold_the_others_up(
    fast_retry: tuple[Container, TestClient], receiver: Receiver
) -> None:
    container, http = fast_retry
    tenant = new_tenant(container, http)
    receiver.slow_s = 1.5
    for path in ("/slow", "/ok"):
        tenant.post(
            "/sms/campaign",
            json={"body": "Hi", "from": "ACME", "to": NUMBERS, "callback": {"url": receiver.url(path)}},
        )
    with running_engine(container, SandboxCarrier(dlr_delay_ms=30), FAST):
        wait_for(
            lambda: len(receiver.at("/slow")) == 20 and len(receiver.at("/ok")) == 20, what="all callbacks"
        )
    # The fast receiver was served while slow deliveries were still waiting for their answers.
    assert max(r.slow_in_flight for r in receiver.at("/ok")) > 0


def test_receiver_down_then_restart_loses_nothing(isolated_database_url: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(
        database_url=isolated_database_url, callback_timeout_s=1.0, callback_retry_s=(1, 1, 1, 1, 1)
    )
    first = build_container(settings)
    with TestClient(create_app(first)) as http:
        tenant = new_tenant(first, http)
        tenant.post(
            "/sms/campaign",
            json={
                "body": "Hi",
                "from": "ACME",
                "to": NUMBERS[:2],
                "callback": {"url": f"http://127.0.0.1:{port}/ok", "strategy": "OnCompletion"},
            },
        )
        with running_engine(first, SandboxCarrier(dlr_delay_ms=30), FAST):

            def attempted() -> bool:
                with first.db.read() as conn:
                    return bool(
                        conn.exec_driver_sql(
                            "SELECT count(*) FROM callback_outbox WHERE attempts > 0"
                        ).scalar()
                    )

            wait_for(attempted, what="failed attempts against the closed port")
    first.close()
    receiver = Receiver(port=port)
    receiver.start()
    try:
        second = build_container(settings)  # "after a restart": a new process over the same database
        try:
            with running_engine(second, SandboxCarrier(dlr_delay_ms=30), FAST):
                wait_for(lambda: len(receiver.at("/ok")) == 2, timeout=60, what="callbacks after restart")
                wait_for(lambda: outbox_settled(second), what="outbox settled")
        finally:
            second.close()
    finally:
        receiver.stop()
    assert all(r.json["status"]["name"] == "Delivered" for r in receiver.at("/ok"))
