"""Signing in to the dashboard from a test client, and reading values back out of its pages."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from fastapi.testclient import TestClient

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
NONCE = re.compile(r'name="nonce" value="([^"]+)"')
FIELD_ERROR = re.compile(r'class="field-error" id="([^"]+)-error">([^<]+)<')


def sign_in(http: TestClient, application_id: str, secret: str) -> str:
    """Sign ``http`` in (its cookie jar keeps the session); returns the session's CSRF token."""
    page = http.get("/ui/login")
    nonce = NONCE.search(page.text)
    assert nonce, page.text
    response = http.post(
        "/ui/login",
        data={"applicationId": application_id, "applicationSecret": secret, "nonce": nonce.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(http.get("/ui/campaigns").text)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def field_errors(html: str) -> dict[str, str]:
    return {name: unescape(message) for name, message in FIELD_ERROR.findall(html)}


def campaign_form(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "campaignName": "",
        "from": "ACME",
        "body": "Hello from the dashboard",
        "to": "+306948530920",
        "scheduledDate": "",
        "timeZone": "UTC",
    }
    form.update(overrides)
    return form
