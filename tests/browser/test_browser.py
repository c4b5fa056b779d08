"""End-to-end in Chromium against a real ``smscast serve``: sign in and out, create a scheduled campaign,
edit it, cancel one, see validation errors next to their fields, watch a campaign finish against the
sandbox carrier without reloading the page, import and search contacts, and the screenshots of the main
pages (saved under ``$SMSCAST_UI_SCREENSHOTS`` when set, e.g. ``docs/img``)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Credentials, Served

pytestmark = pytest.mark.browser

NUMBERS = [f"+3069485{n:05d}" for n in range(30, 42)]


def sign_in(page: Any, credentials: Credentials, path: str = "/ui/campaigns") -> None:
    page.goto(path)
    page.get_by_label("Application id", exact=True).fill(credentials.application_id)
    page.get_by_label("Application secret", exact=True).fill(credentials.secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(path) + r"$"))


def new_campaign(
    page: Any, *, name: str, numbers: list[str], body: str, when: str = "", sender: str = "ACME"
) -> None:
    page.goto("/ui/campaigns/new")
    page.get_by_label("Campaign name").fill(name)
    page.get_by_label("Sender", exact=True).fill(sender)
    page.get_by_label("Message", exact=True).fill(body)
    page.get_by_label("Numbers", exact=True).fill("\n".join(numbers))
    if when:
        page.get_by_label("Send at", exact=True).fill(when)
    page.get_by_role("button", name="Create campaign").click()


def test_sign_in_rejects_a_wrong_secret_and_sign_out_revokes_the_session(page: Any, served: Served) -> None:
    page.goto("/ui/campaigns/new")
    assert "/ui/login?next=" in page.url
    page.get_by_label("Application id", exact=True).fill(served.acme.application_id)
    page.get_by_label("Application secret", exact=True).fill("not the secret")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert "do not match" in alert.inner_text()
    assert page.get_by_label("Application secret", exact=True).get_attribute("aria-invalid") == "true"
    page.get_by_label("Application secret", exact=True).fill(served.acme.secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/campaigns/new")  # back where the visit started
    cookie = next(c for c in page.context.cookies() if c["name"] == "smscast_ui")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/ui"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/ui/login?signed_out=1")
    assert "You are signed out" in page.get_by_role("status").inner_text()
    # The token itself is revoked, not just forgotten by this browser.
    stolen = httpx.get(
        served.url("/ui/campaigns"), cookies={"smscast_ui": cookie["value"]}, follow_redirects=False
    )
    assert stolen.status_code == 303 and stolen.headers["location"].startswith("/ui/login")


def test_validation_errors_are_shown_next_to_their_fields(page: Any, served: Served) -> None:
    sign_in(page, served.acme)
    new_campaign(page, name="Bad sender", numbers=["+306948530920"], body="Hi", sender="+3069")
    sender = page.get_by_label("Sender", exact=True)
    assert sender.get_attribute("aria-invalid") == "true"
    message = page.locator("#from-error").inner_text()
    assert message == "A numeric sender is digits only, without '+' (e.g. 447123123456)"
    assert sender.get_attribute("aria-describedby").split()[0] == "from-error"
    # The summary above the form takes the focus and links to the field.
    assert page.evaluate("document.activeElement.id") == "error-summary"
    page.locator("#error-summary a", has_text="Sender").click()
    assert page.evaluate("location.hash") == "#from"
    # What was typed is kept.
    assert page.get_by_label("Message", exact=True).input_value() == "Hi"
    page.get_by_label("Sender", exact=True).fill("ACME")
    page.get_by_label("Numbers", exact=True).fill("+30 6948")
    page.get_by_role("button", name="Create campaign").click()
    assert "Invalid phone number" in page.locator("#to-error").inner_text()
    assert page.locator("#from-error").count() == 0


def test_create_a_scheduled_campaign_then_edit_it(page: Any, served: Served) -> None:
    sign_in(page, served.acme)
    page.goto("/ui/campaigns/new")
    # The browser's zone is offered for the send time (the context runs in Europe/Athens).
    assert page.get_by_label("Time zone", exact=True).input_value() == "Europe/Athens"
    new_campaign(page, name="Winter sale", numbers=NUMBERS[:2], body="Sale starts", when="2030-01-15T10:00")
    page.wait_for_url(re.compile(r"/ui/campaigns/[0-9a-f-]{36}\?done=created$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Winter sale"
    assert page.locator("#progress .badge").inner_text() == "Scheduled"
    # 10:00 in Athens in January is 08:00 UTC.
    assert "2030-01-15 08:00:00 UTC" in page.locator("dl.facts").first.inner_text()

    page.get_by_role("button", name="Edit").click()
    assert page.get_by_label("Send at", exact=True).input_value() == "2030-01-15T08:00"
    assert page.get_by_label("Time zone", exact=True).input_value() == "UTC"
    page.get_by_label("Campaign name").fill("Winter sale 2")
    page.get_by_label("Message", exact=True).fill("Sale starts [~firstName]")
    page.get_by_label("Numbers", exact=True).fill("\n".join(NUMBERS[:3]))
    page.get_by_role("button", name="Analyse cost").click()
    assert "3 recipients" in page.locator(".analysis-preview").inner_text()
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(re.compile(r"\?done=updated$"))
    assert page.get_by_role("status").first.inner_text() == "The campaign was updated."
    assert page.get_by_role("heading", level=1).inner_text() == "Winter sale 2"
    assert "Sale starts [~firstName]" in page.locator("pre.sms-body").inner_text()
    assert page.locator("#progress .badge").inner_text() == "Scheduled"

    page.goto("/ui/campaigns?state=Scheduled&name=winter")
    row = page.get_by_role("row", name=re.compile("Winter sale 2"))
    assert "2030-01-15 08:00:00 UTC" in row.inner_text() and "3" in row.inner_text()


def test_cancel_a_scheduled_campaign(page: Any, served: Served) -> None:
    sign_in(page, served.acme)
    new_campaign(page, name="To cancel", numbers=NUMBERS[:1], body="Never sent", when="2031-06-01T09:30")
    page.wait_for_url(re.compile(r"\?done=created$"))
    page.get_by_role("button", name="Cancel campaign").click()
    assert "Cancel “To cancel”?" in page.get_by_role("heading", level=1).inner_text()
    page.get_by_role("button", name="Yes, cancel the campaign").click()
    page.wait_for_url(re.compile(r"\?done=cancelled$"))
    assert page.locator("#progress .badge").inner_text() == "Cancelled"
    assert page.get_by_role("button", name="Edit").count() == 0
    assert page.locator("#progress").get_attribute("hx-trigger") is None  # settled: no polling


def test_watch_a_campaign_finish_without_reloading(page: Any, served: Served) -> None:
    sign_in(page, served.acme)
    new_campaign(page, name="Live one", numbers=NUMBERS, body="Hello now")
    page.wait_for_url(re.compile(r"\?done=created$"))
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    page.evaluate("window.__sameDocument = true")
    page.wait_for_selector('#progress[data-state="Finished"]', timeout=30_000)
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    assert navigations == []
    assert page.locator('#progress [data-status="Delivered"]').inner_text() == str(len(NUMBERS))
    assert page.locator("#live-status").inner_text() == "Campaign state: Finished"
    assert page.locator("figure.timeline svg polygon").count() == 4
    assert "12 of 12 parts (100.0%)" in page.locator("#progress .progress-line").inner_text()
    # The message table followed too, then filters in place (no wait_for_function: the page's CSP
    # forbids evaluating strings).
    # htmx binds a swapped-in table's form only once it settles (20 ms later, when it drops the class
    # htmx-added): a change before that goes nowhere, so each step waits for the table to settle.
    settled = page.locator("#messages:not(.htmx-added)")
    page.locator("#messages tbody .status-delivered").nth(len(NUMBERS) - 1).wait_for()
    settled.wait_for()
    page.get_by_label("Status", exact=True).select_option("Failed")
    page.get_by_text("No message part has the status Failed.").wait_for()
    settled.wait_for()
    page.get_by_label("Status", exact=True).select_option("Delivered")
    page.locator("#messages tbody .status-delivered").nth(len(NUMBERS) - 1).wait_for()
    assert page.locator("#messages tbody tr").count() == len(NUMBERS)
    assert page.evaluate("window.__sameDocument === true")


def test_import_contacts_search_them_and_see_the_balance(page: Any, served: Served, tmp_path: Path) -> None:
    sign_in(page, served.acme)
    csv = tmp_path / "contacts.csv"
    csv.write_text(
        "mobile,firstName,lastName,email\n"
        "+306948530920,Nikos,Papadopoulos,nikos@example.com\n"
        "+306948530921,Maria,Ioannou,\n"
        "+14155552671,Ann,Lee,ann@example.com\n"
        "12,Bad,Number,\n"
    )
    page.goto("/ui/contacts/import")
    page.get_by_label("CSV file", exact=True).set_input_files(str(csv))
    page.get_by_label("Add every imported contact to the group").fill("Customers")
    page.get_by_role("button", name="Import").click()
    summary = page.locator(".import-result")
    assert summary.locator('[data-count="created"]').inner_text() == "3"
    assert summary.locator('[data-count="failed"]').inner_text() == "1"
    assert "5" in summary.get_by_role("row").nth(1).inner_text()  # the bad line's number
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Contacts").click()
    page.get_by_label("Search", exact=True).fill("ioannou")
    page.get_by_role("button", name="Search").click()
    table = page.locator("table tbody")
    assert "+306948530921" in table.inner_text() and "+306948530920" not in table.inner_text()
    nav.get_by_role("link", name="Groups").click()
    page.get_by_role("link", name="Customers").click()
    assert page.get_by_text("3 contacts.").count() == 1
    nav.get_by_role("link", name="Account").click()
    assert "EUR" in page.locator("#balance").inner_text()
    assert page.get_by_role("cell", name="TopUp").count() >= 1


def test_another_account_sees_none_of_it(page: Any, served: Served) -> None:
    sign_in(page, served.acme)
    new_campaign(page, name="Acme only", numbers=NUMBERS[:1], body="Mine", when="2032-01-01T00:00")
    page.wait_for_url(re.compile(r"\?done=created$"))
    mine = page.url.split("?")[0]
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, served.other)
    assert page.get_by_text("Acme only").count() == 0
    response = page.goto(mine)
    assert response.status == 404 and page.get_by_role("heading", name="Not found").count() == 1


def test_every_page_passes_axe(page: Any, served: Served, tmp_path: Path) -> None:
    """axe-core's rules (labels, names, landmarks, contrast, ARIA) on every page, in the states that
    matter: errors shown, an import summary, a finished campaign."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        results = axe.run(page)
        found[name] = [
            f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]
        ]

    page.goto("/ui/login")
    check("login")
    sign_in(page, served.acme)
    new_campaign(page, name="Accessible", numbers=NUMBERS[:2], body="Hi")
    page.wait_for_url(re.compile(r"\?done=created$"))
    page.wait_for_selector('#progress[data-state="Finished"]', timeout=30_000)
    check("campaign")
    new_campaign(page, name="Later", numbers=NUMBERS[:1], body="Hi", when="2033-01-01T10:00")
    page.wait_for_url(re.compile(r"\?done=created$"))
    check("scheduled campaign")
    page.get_by_role("button", name="Cancel campaign").click()
    check("cancel")
    new_campaign(page, name="x", numbers=["+30"], body="Hi", sender="+1")
    check("form with errors")
    csv = tmp_path / "c.csv"
    csv.write_text("mobile\n+306948530990\nnope\n")
    page.goto("/ui/contacts/import")
    page.get_by_label("CSV file", exact=True).set_input_files(str(csv))
    page.get_by_role("button", name="Import").click()
    check("import summary")
    for path in (
        "/ui/campaigns",
        "/ui/contacts",
        "/ui/groups",
        "/ui/groups/All",
        "/ui/account",
        "/ui/nothing",
    ):
        page.goto(path)
        check(path)
    assert {name: problems for name, problems in found.items() if problems} == {}


def test_screenshots_of_the_main_pages(page: Any, served: Served, tmp_path: Path) -> None:
    target = Path(os.environ.get("SMSCAST_UI_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page.goto("/ui/login")
    page.screenshot(path=str(target / "login.png"))
    sign_in(page, served.acme)
    new_campaign(page, name="Spring newsletter", numbers=NUMBERS, body="Spring is here: 20% off today")
    page.wait_for_url(re.compile(r"\?done=created$"))
    page.wait_for_selector('#progress[data-state="Finished"]', timeout=30_000)
    page.screenshot(path=str(target / "campaign.png"), full_page=True)
    page.goto("/ui/campaigns")
    page.screenshot(path=str(target / "campaigns.png"), full_page=True)
    page.goto("/ui/campaigns/new")
    page.get_by_label("Campaign name").fill("Autumn offers")
    page.get_by_label("Sender", exact=True).fill("+3069")
    page.get_by_label("Message", exact=True).fill("Hello [~firstName], our autumn offers are in.")
    page.get_by_label("Numbers", exact=True).fill("+306948530920")
    page.get_by_label("Send at", exact=True).fill("2030-10-01T10:00")
    page.get_by_role("button", name="Create campaign").click()
    page.locator("#from-error").wait_for()
    page.screenshot(path=str(target / "campaign-form-errors.png"), full_page=True)
    page.goto("/ui/contacts")
    page.screenshot(path=str(target / "contacts.png"), full_page=True)
    page.goto("/ui/account")
    page.screenshot(path=str(target / "account.png"), full_page=True)
    for name in ("login", "campaign", "campaigns", "campaign-form-errors", "contacts", "account"):
        assert (target / f"{name}.png").stat().st_size > 10_000, name
