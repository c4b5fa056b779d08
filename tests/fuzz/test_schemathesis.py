"""Schema-driven fuzzing of every operation in the app's own ``/openapi.json`` (schemathesis, in process).

For each operation, valid-looking (positive) and invalid (negative) requests are generated from the schema
and sent with a valid all-scope token; operations with path parameters are fuzzed a second time with the
ids of real resources (a scheduled campaign, a contact, a group, a sent message), so the generated bodies
reach the services rather than stopping at 404; operations with a JSON body are fuzzed once more with the
gating fields repaired (valid sender, numbers, ids, dates, URLs) so the generated rest reaches the deeper
rules. Every answer must:
- never be a 5xx;
- have a status the schema documents, with a body matching the documented schema (api/openapi.py);
- for an error, be Routee's body (``code`` = 9 digits starting with the HTTP status, ``developerMessage``),
  or Spring's 401 body, or (``/oauth/token``) the OAuth error body; HEAD answers have no body.

Bounded: ``SMSCAST_FUZZ_EXAMPLES`` examples (default 20) per operation and mode, derandomized so CI is
repeatable; set ``SMSCAST_FUZZ_RANDOM=1`` (and more examples) for an exploratory run. Runs on its own SQLite
database, so it is not a ``db`` test and does not run again in the PostgreSQL pass; for an exploratory run
on PostgreSQL (which refuses NUL characters SQLite stores, for one), point ``SMSCAST_FUZZ_DATABASE_URL`` at an
empty database.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from smscast.api.app import create_app
from smscast.bootstrap import build_container, migrate
from smscast.settings import Settings

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("SMSCAST_FUZZ_EXAMPLES", "20"))
RANDOM = os.environ.get("SMSCAST_FUZZ_RANDOM", "") not in ("", "0")
GR = "+306948530920"


def routee_error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """4xx answers are Routee errors, Spring's 401 body or an OAuth error; HEAD answers are empty."""
    status = response.status_code
    if status < 400:
        return None
    if case.method.upper() == "HEAD":
        assert not response.content, "a HEAD answer has a body"
        return None
    body = response.json()
    assert isinstance(body, dict), f"error body is not an object: {body!r}"
    if status == 401 and "code" not in body:
        assert body.get("status") == 401 and body.get("error") == "Unauthorized", body
        assert isinstance(body.get("message"), str) and isinstance(body.get("path"), str), body
        return None
    if case.path == "/oauth/token" and "error" in body:
        assert status == 400 and isinstance(body["error"], str), body
        return None
    code, message = body.get("code"), body.get("developerMessage")
    assert isinstance(code, str) and len(code) == 9 and code.isdigit(), f"bad code in {body!r}"
    assert code[:3] == str(status), f"code {code} under HTTP {status}"
    assert isinstance(message, str) and message, f"no developerMessage in {body!r}"
    assert "Traceback" not in message, message
    properties = body.get("properties")
    if properties is not None:
        assert isinstance(properties, dict) and properties, body
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in properties.items()), body
    if status == 429:
        assert int(response.headers["retry-after"][0]) >= 1
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    routee_error_shape,
]


@dataclass
class Target:
    schema: Any
    headers: dict[str, str]
    ids: dict[str, str]
    statuses: Counter[str] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    url = os.environ.get("SMSCAST_FUZZ_DATABASE_URL") or f"sqlite:///{path}"
    # Thousands of requests from one application in seconds: the rate limit has its own tests.
    container = build_container(Settings(database_url=url, rate_limit_per_s=0))
    try:
        migrate(container)
        new = container.accounts.create_account("fuzz", Decimal("1000000"))
        token = container.accounts.issue_token(new.application_id, new.application_secret, None)
        headers = {"Authorization": f"Bearer {token.access_token}"}
        app = create_app(container)
        with TestClient(app) as http:
            ids = _seed(http, headers)
        yield Target(schemathesis.openapi.from_asgi("/openapi.json", app), headers, ids)
    finally:
        container.close()


def _seed(http: TestClient, headers: dict[str, str]) -> dict[str, str]:
    """Real resources for the path parameters: a scheduled campaign, a contact, a group, a message."""

    def post(path: str, body: Any) -> Any:
        response = http.post(path, json=body, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    contact = post("/contacts/my", {"mobile": GR, "firstName": "Nick"})
    post("/groups/my", {"name": "customers"})
    post("/groups/my/customers/contacts", [contact["id"]])
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    campaign = post(
        "/sms/campaign",
        {"body": "Hi [~firstName]", "from": "ACME", "groups": ["customers"], "scheduledDate": later},
    )
    sms = post("/sms", {"body": "hello", "to": GR, "from": "ACME"})
    return {
        "tracking_id": campaign["trackingId"],
        "message_id": sms["trackingId"],
        "contact_id": contact["id"],
        "name": "customers",
        "service": "Sms",
    }


NUMBERS = ["+306948530920", "+14155552671", "+447400123456", "+4915112345678", "+61412345678"]
LATER = (datetime.now(UTC) + timedelta(days=30)).isoformat()


def _repair(value: Any, ids: dict[str, str], pick: int) -> Any:
    """Generated JSON with the fields that gate everything else made valid (sender, numbers, ids, dates,
    callback URLs), the rest left as generated: the request then reaches the services' deeper rules."""
    if isinstance(value, list):
        return [_repair(item, ids, pick) for item in value]
    if not isinstance(value, dict):
        return value
    fixed: dict[str, Any] = {}
    for key, item in value.items():
        if key == "from":
            fixed[key] = ["ACME", "447123123456", "Shop 24"][pick % 3]
        elif key in ("to", "recipients"):
            fixed[key] = NUMBERS[pick % 5] if isinstance(item, str) else NUMBERS[: 1 + pick % 5]
        elif key == "mobile":
            fixed[key] = NUMBERS[pick % 5]
        elif key == "contacts":
            fixed[key] = [ids["contact_id"]]
        elif key == "groups":
            fixed[key] = [ids["name"], "All"][: 1 + pick % 2]
        elif key == "scheduledDate":
            fixed[key] = LATER if pick % 4 else None
        elif key == "url":
            fixed[key] = "https://example.com/callback"
        elif key == "campaignName":
            fixed[key] = f"fuzz {pick}"
        else:
            fixed[key] = _repair(item, ids, pick)
    return fixed


def _fuzz(
    target: Target,
    operation: Any,
    mode: GenerationMode,
    path_parameters: dict[str, str],
    repair: bool = False,
) -> int:
    """Run the examples of one operation in one mode; returns how many requests were sent."""
    sent = [0]
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters or None)
    if repair:

        def repaired(drawn: tuple[Any, int]) -> Any:
            case, pick = drawn
            case.body = _repair(case.body, target.ids, pick)
            return case

        strategy = st.tuples(strategy, st.integers(0, 59)).map(repaired)

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        sent[0] += 1
        response = case.call(headers=target.headers)
        target.statuses[f"{response.status_code}{' repaired' if repair else ''}"] += 1
        case.validate_response(response, checks=CHECKS, headers=target.headers)

    with contextlib.suppress(Unsatisfiable):  # nothing to make invalid (e.g. GET /health, negative)
        run()
    return sent[0]


def _describe(exc: BaseException) -> str:
    """Hypothesis groups distinct failures; schemathesis' messages carry the request to reproduce each."""
    if isinstance(exc, BaseExceptionGroup):
        return "\n".join(_describe(sub) for sub in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


def test_every_operation_survives_fuzzing(target: Target) -> None:
    started = time.monotonic()
    failures: list[str] = []
    operations = [result.ok() for result in target.schema.get_all_operations()]
    assert len(operations) >= 40, [op.label for op in operations]
    requests = 0
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        variants: list[dict[str, str]] = [{}]
        if names and names <= target.ids.keys():
            variants.append({name: target.ids[name] for name in names})
        runs = [(mode, params, False) for params in variants for mode in GenerationMode]
        if operation.body and any(b.media_type == "application/json" for b in operation.body):
            runs.append((GenerationMode.POSITIVE, variants[-1], True))
        for mode, path_parameters, repair in runs:
            try:
                requests += _fuzz(target, operation, mode, path_parameters, repair)
            except Exception as exc:
                ids = path_parameters or "random ids"
                where = f"{operation.label} [{mode.value}, {ids}{', repaired body' if repair else ''}]"
                failures.append(f"{where}:\n{_describe(exc)}")
    elapsed = time.monotonic() - started
    print(f"\nfuzzed {len(operations)} operations with {requests} requests in {elapsed:.1f} s")
    print("answers:", dict(sorted(target.statuses.items())))
    assert not failures, "\n\n".join(failures)
