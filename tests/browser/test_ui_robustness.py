"""Odd input anywhere in the dashboard is a page with a 4xx status (or accepted), never a 500: the same
rule as the API's schemathesis run, on addresses and forms a browser can send. Runs on both databases."""

from __future__ import annotations

from fastapi.testclient import TestClient

from smscast.api.app import create_app
from tests.browser.test_ui_pages import Ui, ui  # noqa: F401  (the fixture)
from tests.browser.ui_client import campaign_form, sign_in

ODD = [
    "-1",
    "99999999999999999999",
    "2147483648",
    "abc",
    "",
    " ",
    "%",
    "'",
    "\\",
    "😀" * 300,
    "x" * 5000,
    "1e9",
    "NaN",
    "\u202e",
]
FIELDS = ["scheduledDate", "timeZone", "to", "campaignName", "from", "body", "fallbackValues", "ttl", "flash"]


def test_odd_input_never_answers_500(ui: Ui) -> None:  # noqa: F811
    http = TestClient(create_app(ui.container), raise_server_exceptions=False)
    csrf = sign_in(http, ui.application_id, ui.secret)
    failures: list[tuple[str, str, int]] = []
    for odd in ODD:
        addresses = [
            ("/ui/campaigns", {"page": odd}),
            ("/ui/campaigns", {"state": odd, "name": odd}),
            ("/ui/contacts", {"q": odd, "page": odd}),
            (f"/ui/campaigns/{odd}", {}),
            (f"/ui/campaigns/{odd}/messages", {"page": odd, "status": odd}),
            (f"/ui/campaigns/{odd}/progress", {}),
            (f"/ui/groups/{odd}", {"page": odd}),
            ("/ui/account", {"page": odd}),
            ("/ui/login", {"next": odd}),
        ]
        for path, params in addresses:
            status = http.get(path, params=params).status_code
            if status >= 500:
                failures.append((path, repr(params)[:40], status))
        for field in FIELDS:
            for extra in ({}, {"analyse": "1"}):
                form = {"csrf": csrf, **extra, **campaign_form(**{field: odd})}
                status = http.post("/ui/campaigns/new", data=form, follow_redirects=False).status_code
                if status >= 500:
                    failures.append(("/ui/campaigns/new", f"{field}={odd[:20]!r}", status))
    assert not failures
