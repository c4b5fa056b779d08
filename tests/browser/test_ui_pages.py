"""The dashboard's pages over the test client (no browser): sessions, CSRF, headers, account isolation,
forms and their error messages, the live fragments. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from smscast.api.app import create_app
from smscast.bootstrap import Container
from smscast.carriers.sandbox import SandboxCarrier
from smscast.engine.runner import EngineSettings
from smscast.web.session import SESSION_COOKIE, safe_next
from tests.browser.ui_client import campaign_form, field_errors, sign_in
from tests.engine_harness import running_engine, wait_for

FAST = EngineSettings(idle_s=0.02, scheduler_every_s=0.05, maintenance_every_s=0.2)
LATER = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")


@dataclass
class Ui:
    http: TestClient
    container: Container
    application_id: str
    secret: str
    csrf: str = ""


def _ui(container: Container, balance: str = "100") -> Iterator[Ui]:
    new = container.accounts.create_account(f"ui-{uuid.uuid4().hex[:8]}", Decimal(balance))
    with TestClient(create_app(container), raise_server_exceptions=True) as http:
        ui = Ui(http, container, new.application_id, new.application_secret)
        ui.csrf = sign_in(http, new.application_id, new.application_secret)
        yield ui


@pytest.fixture
def ui(container: Container) -> Iterator[Ui]:
    yield from _ui(container)


@pytest.fixture
def other_ui(container: Container) -> Iterator[Ui]:
    yield from _ui(container)


def _create(ui: Ui, **fields: str) -> str:
    response = ui.http.post(
        "/ui/campaigns/new", data={"csrf": ui.csrf, **campaign_form(**fields)}, follow_redirects=False
    )
    assert response.status_code == 303, field_errors(response.text) or response.text
    location: str = response.headers["location"]
    return location.split("/")[3].split("?")[0]


def test_pages_need_a_session(container: Container) -> None:
    with TestClient(create_app(container)) as http:
        response = http.get("/ui/campaigns?state=Finished", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/login?next=%2Fui%2Fcampaigns%3Fstate%3DFinished"
        fragment = http.get("/ui/campaigns/x/progress", headers={"HX-Request": "true"})
        assert fragment.status_code == 401 and fragment.headers["HX-Redirect"].startswith("/ui/login")
        http.cookies.set(SESSION_COOKIE, "not-a-token", path="/ui")
        assert http.get("/ui/campaigns", follow_redirects=False).status_code == 303


def test_sign_in_sets_a_safe_cookie_and_sign_out_revokes_the_token(container: Container) -> None:
    new = container.accounts.create_account("cookie", Decimal(1))
    with TestClient(create_app(container)) as http:
        login = http.get("/ui/login")
        nonce = re.search(r'name="nonce" value="([^"]+)"', login.text)
        assert nonce
        wrong = http.post(
            "/ui/login",
            data={"applicationId": new.application_id, "applicationSecret": "x", "nonce": nonce.group(1)},
        )
        assert wrong.status_code == 401 and "do not match" in wrong.text
        # A sign-in form posted from elsewhere (no matching nonce cookie) is refused.
        http.cookies.clear()
        forged = http.post(
            "/ui/login",
            data={
                "applicationId": new.application_id,
                "applicationSecret": new.application_secret,
                "nonce": "guessed",
            },
        )
        assert forged.status_code == 400 and SESSION_COOKIE not in http.cookies
        csrf = sign_in(http, new.application_id, new.application_secret)
        token = http.cookies[SESSION_COOKIE]
        cookie = http.get("/ui/login", follow_redirects=False)
        assert cookie.status_code == 303  # already signed in
        assert container.accounts.authenticate(token).account_id == new.account_id
        refused = http.post("/ui/logout", data={"csrf": "wrong"})
        assert refused.status_code == 403
        out = http.post("/ui/logout", data={"csrf": csrf}, follow_redirects=False)
        assert out.headers["location"] == "/ui/login?signed_out=1"
        assert SESSION_COOKIE not in http.cookies
        http.cookies.set(SESSION_COOKIE, token, path="/ui")
        assert http.get("/ui/campaigns", follow_redirects=False).status_code == 303


def test_cookie_attributes_and_security_headers(ui: Ui, container: Container) -> None:
    with TestClient(create_app(container), base_url="https://testserver") as http:
        login = http.get("/ui/login")
        nonce = re.search(r'name="nonce" value="([^"]+)"', login.text)
        assert nonce
        response = http.post(
            "/ui/login",
            data={
                "applicationId": ui.application_id,
                "applicationSecret": ui.secret,
                "nonce": nonce.group(1),
            },
            follow_redirects=False,
        )
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
        for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/ui"):
            assert attribute in cookie, cookie
    page = ui.http.get("/ui/campaigns")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text and " style=" not in page.text
    static = ui.http.get("/ui/static/vendor/htmx-2.0.11.min.js")
    assert static.status_code == 200 and static.headers["x-content-type-options"] == "nosniff"


def test_unknown_dashboard_addresses_are_html_404s(ui: Ui) -> None:
    response = ui.http.get("/ui/no/such/page")
    assert response.status_code == 404 and "There is no such page." in response.text
    # An id that is not a UUID names no campaign, on PostgreSQL's uuid columns too (docs/adr/0008).
    for path in ("/ui/campaigns/not-a-uuid", "/ui/campaigns/not-a-uuid/edit"):
        assert ui.http.get(path).status_code == 404, path
    assert response.headers["content-type"].startswith("text/html")
    assert ui.http.get("/ui/static/app.css").status_code == 200
    assert ui.http.get("/no-such-api").headers["content-type"].startswith("application/json")


def test_next_only_leads_inside_the_dashboard() -> None:
    assert safe_next("/ui/campaigns/abc?page=2") == "/ui/campaigns/abc?page=2"
    for hostile in ("https://evil.example/", "//evil.example/ui/", "/ui/\\evil", "/uix", None, "/ui/login"):
        assert safe_next(hostile) == "/ui/campaigns"


def test_create_edit_cancel_through_the_services(ui: Ui) -> None:
    tracking_id = _create(ui, campaignName="Spring sale", scheduledDate=LATER, timeZone="Europe/Athens")
    page = ui.http.get(f"/ui/campaigns/{tracking_id}?done=created")
    assert "Spring sale" in page.text and "The campaign was created." in page.text
    assert 'hx-trigger="every 5s"' in page.text  # a scheduled campaign polls slowly for its start
    edit = ui.http.get(f"/ui/campaigns/{tracking_id}/edit")
    # Athens is UTC+2 in winter and +3 in summer: the form shows the stored instant in UTC.
    assert 'name="timeZone" value="UTC"' in edit.text
    changed = ui.http.post(
        f"/ui/campaigns/{tracking_id}/edit",
        data={
            "csrf": ui.csrf,
            **campaign_form(campaignName="Spring sale 2", scheduledDate=LATER, body="New"),
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303 and changed.headers["location"].endswith("?done=updated")
    principal = ui.container.accounts.authenticate(ui.http.cookies[SESSION_COOKIE])
    view = ui.container.campaigns.get(principal, tracking_id)
    assert view.definition.name == "Spring sale 2" and view.definition.body == "New"
    assert view.row.scheduled_date == datetime.fromisoformat(LATER).replace(tzinfo=UTC)
    cancelled = ui.http.post(f"/ui/campaigns/{tracking_id}/cancel", data={"csrf": ui.csrf})
    assert "The campaign was cancelled." in cancelled.text
    assert ui.container.campaigns.get(principal, tracking_id).row.state.value == "Cancelled"
    again = ui.http.post(f"/ui/campaigns/{tracking_id}/edit", data={"csrf": ui.csrf, **campaign_form()})
    assert "no longer scheduled" in again.text
    listed = ui.http.get("/ui/campaigns?state=Cancelled&name=spring")
    assert "Spring sale 2" in listed.text


def test_edit_keeps_what_the_form_does_not_show(ui: Ui) -> None:
    tracking_id = _create(ui, scheduledDate=LATER)
    principal = ui.container.accounts.authenticate(ui.http.cookies[SESSION_COOKIE])
    view = ui.container.campaigns.get(principal, tracking_id)
    from smscast.domain.campaigns import Callback, CallbackStrategy, Reminder

    with_extras = type(view.definition)(
        **{
            **{f: getattr(view.definition, f) for f in view.definition.__slots__},  # type: ignore[attr-defined]
            "callback": Callback("https://example.com/cb", CallbackStrategy.ON_COMPLETION),
            "reminder": Reminder(30, None, ("+306948530920",)),
        }
    )
    ui.container.campaigns.update_scheduled(principal, tracking_id, with_extras)
    ui.http.post(
        f"/ui/campaigns/{tracking_id}/edit",
        data={"csrf": ui.csrf, **campaign_form(body="Edited", scheduledDate=LATER)},
    )
    after = ui.container.campaigns.get(principal, tracking_id).definition
    assert after.body == "Edited"
    assert after.callback == with_extras.callback and after.reminder == with_extras.reminder


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"from": "+3069"}, "from", "A numeric sender is digits only, without '+' (e.g. 447123123456)"),
        ({"to": "+30 123"}, "to", "Invalid phone number: +30"),
        ({"campaignName": "x"}, "campaignName", "must be 2 to 30 characters"),
        ({"body": ""}, "body", "must not be empty"),
        ({"to": "", "groups": "nope"}, "groups", "nope"),
        ({"scheduledDate": "2001-01-01T00:00"}, "scheduledDate", "This time has passed"),
        ({"timeZone": "Mars/Olympus"}, "timeZone", "Unknown time zone"),
        ({"fallbackValues": "no equals sign"}, "fallbackValues", "Line 1: write label=value"),
    ],
)
def test_validation_messages_sit_next_to_their_fields(
    ui: Ui, fields: dict[str, str], field: str, message: str
) -> None:
    response = ui.http.post("/ui/campaigns/new", data={"csrf": ui.csrf, **campaign_form(**fields)})
    assert response.status_code in (400, 404), response.text
    errors = field_errors(response.text)
    assert field in errors and message in errors[field], errors
    assert f'id="{field}"' in response.text and 'aria-invalid="true"' in response.text
    assert 'id="error-summary"' in response.text


def test_name_taken_and_balance_errors_are_shown(ui: Ui) -> None:
    _create(ui, campaignName="Only once", scheduledDate=LATER)
    taken = ui.http.post(
        "/ui/campaigns/new",
        data={"csrf": ui.csrf, **campaign_form(campaignName="ONLY ONCE", scheduledDate=LATER)},
    )
    assert taken.status_code == 409
    assert "already has a campaign with the given name" in field_errors(taken.text)["campaignName"]
    numbers = "\n".join(f"+3069485{n:05d}" for n in range(1, 400))
    broke = ui.http.post(
        "/ui/campaigns/new",
        data={"csrf": ui.csrf, **campaign_form(to=numbers, body="€" * 1000, scheduledDate=LATER)},
    )
    assert broke.status_code == 400 and "enough balance" in broke.text


def test_analyse_shows_the_cost_and_creates_nothing(ui: Ui) -> None:
    response = ui.http.post(
        "/ui/campaigns/new",
        data={"csrf": ui.csrf, "action": "analyse", **campaign_form(to="+306948530920\n+14155552671")},
    )
    assert response.status_code == 200 and "2 recipients" in response.text
    assert "No campaign yet" in ui.http.get("/ui/campaigns").text


def test_forms_need_the_session_csrf_token(ui: Ui, other_ui: Ui) -> None:
    for csrf in ("", "0" * 64, other_ui.csrf):
        response = ui.http.post("/ui/campaigns/new", data={"csrf": csrf, **campaign_form()})
        assert response.status_code == 403
    assert "No campaign yet" in ui.http.get("/ui/campaigns").text


def test_another_account_sees_nothing(ui: Ui, other_ui: Ui) -> None:
    tracking_id = _create(ui, campaignName="Private plans", scheduledDate=LATER)
    ui.http.post(
        "/ui/contacts/import",
        data={"csrf": ui.csrf, "group": "secret-group"},
        files={"file": ("c.csv", b"mobile,firstName\n+306948530999,Hidden\n", "text/csv")},
    )
    for path in (
        f"/ui/campaigns/{tracking_id}",
        f"/ui/campaigns/{tracking_id}/edit",
        f"/ui/campaigns/{tracking_id}/cancel",
        f"/ui/campaigns/{tracking_id}/progress",
        "/ui/groups/secret-group",
    ):
        assert other_ui.http.get(path).status_code == 404, path
    cancel = other_ui.http.post(f"/ui/campaigns/{tracking_id}/cancel", data={"csrf": other_ui.csrf})
    assert cancel.status_code == 404
    assert "Private plans" not in other_ui.http.get("/ui/campaigns").text
    assert "+306948530999" not in other_ui.http.get("/ui/contacts?q=3069").text
    assert "secret-group" not in other_ui.http.get("/ui/groups").text
    assert ui.http.get(f"/ui/campaigns/{tracking_id}").status_code == 200


def test_contacts_import_search_groups_and_account(ui: Ui) -> None:
    csv = (
        b"mobile,firstName,lastName\n+306948530920,Nick,Papas\n306948530921,Maria,Ioannou\nnot-a-number,X,Y\n"
    )
    result = ui.http.post(
        "/ui/contacts/import",
        data={"csrf": ui.csrf, "group": "Athens"},
        files={"file": ("contacts.csv", csv, "text/csv")},
    )
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', result.text))
    assert counts == {"created": "2", "updated": "0", "failed": "1"}
    assert '<td class="num">4</td>' in result.text  # the failed line, counted from the header
    bad = ui.http.post(
        "/ui/contacts/import",
        data={"csrf": ui.csrf},
        files={"file": ("x.csv", b"name\nfoo\n", "text/csv")},
    )
    assert bad.status_code == 400 and "Nothing was imported" in bad.text
    search = ui.http.get("/ui/contacts?q=MARIA")
    assert "+306948530921" in search.text and "+306948530920" not in search.text
    assert "+306948530920" in ui.http.get("/ui/contacts?q=papas").text
    assert "No contact matches" in ui.http.get("/ui/contacts?q=%25").text  # % is literal, not a wildcard
    groups = ui.http.get("/ui/groups")
    assert 'href="/ui/groups/Athens"' in groups.text
    members = ui.http.get("/ui/groups/Athens")
    assert "Nick Papas" in members.text and "Maria Ioannou" in members.text
    account = ui.http.get("/ui/account")
    assert "100.00 EUR" in account.text and "TopUp" in account.text


def test_a_campaign_page_follows_the_engine_to_finished(isolated: tuple[Container, TestClient]) -> None:
    container, _ = isolated
    for ui in _ui(container):
        _follow_to_finished(ui, container)


def _follow_to_finished(ui: Ui, container: Container) -> None:
    numbers = "\n".join(f"+3069485{n:05d}" for n in range(1, 6))
    tracking_id = _create(ui, campaignName="Live", to=numbers)
    principal = container.accounts.authenticate(ui.http.cookies[SESSION_COOKIE])
    fragment_headers = {"HX-Request": "true"}
    before = ui.http.get(f"/ui/campaigns/{tracking_id}/progress", headers=fragment_headers)
    assert 'hx-trigger="every 2s"' in before.text
    seen = re.search(r"/progress\?seen=([^\"]+)\"", before.text)
    assert (
        seen
        and "HX-Trigger"
        not in ui.http.get(
            f"/ui/campaigns/{tracking_id}/progress?seen={seen.group(1)}", headers=fragment_headers
        ).headers
    )
    with running_engine(container, SandboxCarrier(dlr_delay_ms=10), FAST):
        wait_for(
            lambda: container.campaigns.get(principal, tracking_id).row.state.value == "Finished",
            what="campaign finished",
        )
    fragment = ui.http.get(
        f"/ui/campaigns/{tracking_id}/progress?seen={seen.group(1)}", headers=fragment_headers
    )
    assert fragment.headers["HX-Trigger"] == "campaign-changed"  # the message table refreshes
    assert 'data-state="Finished"' in fragment.text and "hx-trigger" not in fragment.text.split(">")[0]
    assert '<strong data-status="Delivered">5</strong>' in fragment.text
    assert 'hx-swap-oob="innerHTML">Campaign state: Finished' in fragment.text
    assert "<polygon" in fragment.text  # the chart over time
    samples = container.campaigns.progress_timeline(principal, tracking_id, points=10)
    assert len(samples) == 10
    assert samples[-1].delivered == 5 and samples[-1].queued == samples[-1].sent == 0
    assert all(s.queued + s.sent + s.delivered + s.ended == 5 for s in samples)
    assert samples[0].delivered == 0 and samples[0].queued + samples[0].sent == 5
    delivered = [s.delivered for s in samples]
    assert delivered == sorted(delivered)
    assert [s.at for s in samples] == sorted(s.at for s in samples)
    messages = f"/ui/campaigns/{tracking_id}/messages"
    table = ui.http.get(f"{messages}?status=Delivered", headers=fragment_headers)
    assert table.text.count("status-delivered") == 5
    none = ui.http.get(f"{messages}?status=Failed", headers=fragment_headers)
    assert "No message part has the status Failed." in none.text
    plain = ui.http.get(f"{messages}?status=Failed", follow_redirects=False)
    assert plain.headers["location"] == f"/ui/campaigns/{tracking_id}?status=Failed"
    assert container.campaigns.quiet_hours_report(principal, tracking_id) == {}


def test_nul_characters_are_a_clear_400_and_change_nothing(ui: Ui) -> None:
    """PostgreSQL text cannot hold U+0000: a search for one was a 500 there, a body with one was stored."""
    principal = ui.container.accounts.authenticate(ui.http.cookies[SESSION_COOKIE])
    before = ui.container.campaigns.page(principal, 0, 100, None, None).total
    for fields in ({"campaignName": "A\x00B"}, {"body": "Hi\x00"}, {"from": "AC\x00ME"}):
        sent = ui.http.post("/ui/campaigns/new", data={"csrf": ui.csrf, **campaign_form(**fields)})
        assert sent.status_code == 400 and "NUL" in sent.text, fields
    for path in ("/ui/contacts?q=a%00b", "/ui/campaigns?name=a%00b", "/ui/groups/a%00b"):
        answer = ui.http.get(path)
        assert answer.status_code == 400 and "NUL" in answer.text, path
    imported = ui.http.post(
        "/ui/contacts/import",
        data={"csrf": ui.csrf, "group": "G\x00"},
        files={"file": ("c.csv", b"mobile\n+306948530920\n", "text/csv")},
    )
    assert imported.status_code == 400
    after = ui.container.campaigns.page(principal, 0, 100, None, None).total
    assert after == before
    assert "+306948530920" not in ui.http.get("/ui/contacts").text
