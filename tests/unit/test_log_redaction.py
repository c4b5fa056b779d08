"""Tokens, secrets, credentials and phone numbers never reach a log line in full (logging_redaction.py)."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from smscast.logging_redaction import RedactingFilter, install_log_redaction, mask_number, redact

TOKEN = "q5Jb0Xn3Yv8Kc2Lw7Rt1Zp4Hs6Mf9Dg_Ae-Ui0Oo"
SECRET = "s3cr3t-9Vx_Qm2Lk7Pw"
BASIC = base64.b64encode(b"5f1c2b0e-app-id:" + SECRET.encode()).decode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer [REDACTED]"),
        (f"{{'authorization': 'bearer {TOKEN}'}}", "{'authorization': 'bearer [REDACTED]'}"),
        (f"Authorization: Basic {BASIC}", "Authorization: Basic [REDACTED]"),
        (f'{{"applicationSecret": "{SECRET}", "x": 1}}', '{"applicationSecret": "[REDACTED]", "x": 1}'),
        (f"applicationSecret={SECRET}&grant_type=x", "applicationSecret=[REDACTED]&grant_type=x"),
        (f"client_secret={SECRET}", "client_secret=[REDACTED]"),
        (f"{{'access_token': '{TOKEN}'}}", "{'access_token': '[REDACTED]'}"),
        (f"password: {SECRET}", "password: [REDACTED]"),
        ("smpp://esme:hunter2@10.0.0.1:2775?window=10", "smpp://esme:[REDACTED]@10.0.0.1:2775?window=10"),
        ("postgresql+psycopg://app:pw@db/sms", "postgresql+psycopg://app:[REDACTED]@db/sms"),
        ("sending to +306948530920 now", "sending to +30********20 now"),
        ('{"to": ["+14155552671", "+447400123456"]}', '{"to": ["+1********71", "+44********56"]}'),
        ("SubmitSm(destination_addr='306948530920')", "SubmitSm(destination_addr='30********20')"),
        ("to=306948530920 mobile: 447400123456", "to=30********20 mobile: 44********56"),
        ("[parameters: ('+306948530920', 3)]", "[parameters: ('+30********20', 3)]"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "campaign 0b7c6f3e-2d1a-4c55-9a57-1f0e2d3c4b5a started with 30000 recipients",
        "GET /sms/tracking/campaign/abc?page=2 answered 200 in 0.013 s",
        "dispatcher 3 claimed 500 parts; window 100; tps 250.5",
        "2026-11-27T09:00:00.000Z +02:00 offset",
    ],
)
def test_ordinary_lines_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_mask_number_keeps_country_code_and_last_two_digits() -> None:
    assert mask_number("306948530920") == "30********20"
    assert mask_number("14155552671") == "1********71"
    assert mask_number("3556912345") == "355*****45"  # three-digit country code
    assert mask_number("123") == "***"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("smscast.test_redaction")
    logger.handlers, logger.propagate, logger.level = [handler], False, logging.DEBUG
    try:
        yield logger, stream
    finally:
        logger.handlers, logger.propagate = [], True


def test_installed_filter_redacts_arguments_and_tracebacks(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    assert install_log_redaction(logger) >= 1
    assert install_log_redaction(logger) == 0  # idempotent
    logger.info("Authorization: Bearer %s for %s", TOKEN, "+306948530920")
    try:
        raise RuntimeError(f"insert failed [parameters: ('+306948530920', 3)] for Bearer {TOKEN}")
    except RuntimeError:
        logger.exception("unhandled error with applicationSecret=%s", SECRET)
    logger.warning("campaign %s started with %d recipients", "abc", 3)
    output = stream.getvalue()
    assert TOKEN not in output and SECRET not in output and "6948530920" not in output
    assert "Authorization: Bearer [REDACTED] for +30********20" in output
    assert "Traceback" in output and "RuntimeError: insert failed" in output
    assert "campaign abc started with 3 recipients" in output


def test_a_record_without_secrets_keeps_its_arguments() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, "x", 1, "%s %s", ("GET", "/health"), None)
    assert RedactingFilter().filter(record)
    assert record.args == ("GET", "/health")


def test_cli_logging_set_up_installs_the_filter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from smscast.cli import main

    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    monkeypatch.setattr(root, "handlers", [handler])
    monkeypatch.setenv("SMSCAST_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    container = main._container()
    container.close()
    assert any(isinstance(f, RedactingFilter) for f in handler.filters)


def test_serve_installs_the_filter_on_uvicorn_handlers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from smscast import server
    from smscast.bootstrap import build_container
    from smscast.settings import Settings

    async def not_serving(*_args: object) -> None:
        return None

    monkeypatch.setattr(server, "_serve", not_serving)
    container = build_container(Settings(database_url=f"sqlite:///{tmp_path / 'serve.db'}"))
    try:
        server.serve(container, host="127.0.0.1", port=0, run_engine=False)
    finally:
        container.close()
    handlers = logging.getLogger("uvicorn").handlers + logging.getLogger("uvicorn.access").handlers
    assert handlers
    assert all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in handlers)
