"""A real ``smscast serve`` (SQLite file, sandbox carrier, engine on) and Debian's Chromium driven by
Playwright, for the browser tests. Chromium is never downloaded: ``/usr/bin/chromium`` (``apt-get install
chromium``, done by ``.ci/run``) or ``SMSCAST_CHROMIUM``. Without it the browser tests skip locally and
fail in CI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from smscast.bootstrap import build_container, migrate
from smscast.settings import Settings

CHROMIUM = os.environ.get("SMSCAST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests must run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class Credentials:
    application_id: str
    secret: str


@dataclass(frozen=True)
class Served:
    base_url: str
    database_url: str
    log: Path
    acme: Credentials
    other: Credentials

    def url(self, path: str) -> str:
        return self.base_url + path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``smscast serve`` on a free port with the engine running against ``sandbox://``."""
    folder = tmp_path_factory.mktemp("serve")
    database_url = f"sqlite:///{folder / 'smscast.db'}"
    container = build_container(Settings(database_url=database_url))
    try:
        migrate(container)
        acme = container.accounts.create_account("acme", Decimal(250))
        other = container.accounts.create_account("other", Decimal(10))
    finally:
        container.close()
    port = _free_port()
    log = folder / "serve.log"
    env = {
        **os.environ,
        "SMSCAST_DATABASE_URL": database_url,
        "SMSCAST_CARRIER_URL": "sandbox://?dlr_delay_ms=50",
    }
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "smscast", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"smscast serve did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield Served(
            base,
            database_url,
            log,
            Credentials(acme.application_id, acme.application_secret),
            Credentials(other.application_id, other.application_secret),
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright (module scope: Playwright's event loop is gone
    before the other test modules run)."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    """A fresh browser context (no cookies) whose console errors fail the test: a script or style that
    the Content-Security-Policy blocks shows up there."""
    context = browser.new_context(
        base_url=served.base_url, viewport={"width": 1280, "height": 860}, timezone_id="Europe/Athens"
    )
    context.set_default_timeout(30_000)  # a loaded 2-core CI machine: generous, never a timing assertion
    tab = context.new_page()
    problems: list[str] = []
    tab.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text
            else None
        ),
    )
    tab.on("pageerror", lambda error: problems.append(str(error)))
    try:
        yield tab
    finally:
        context.close()
    assert not problems, problems
