"""Campaign create / analyse / update (the seed) / cancel / read / list (api.md §4), with every error code
of create and update in the order of §1.1, and bad input changing nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smscast.bootstrap import Container
from tests.conftest import Tenant, assert_error, new_tenant

GR = "+306948530920"
GR2 = "+306948530921"
US = "+12015550123"


def future(hours: int = 2) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def campaign(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"body": "Hello there", "from": "ACME", "to": [GR, US]}
    body.update(overrides)
    return body


def create(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    response = tenant.post("/sms/campaign", json=campaign(**overrides))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def add_contact(tenant: Tenant, mobile: str, **fields: Any) -> str:
    response = tenant.post("/contacts/my", json={"mobile": mobile, **fields})
    assert response.status_code == 200, response.text
    contact_id: str = response.json()["id"]
    return contact_id


# --- create ---------------------------------------------------------------------------------------------


def test_create_now_is_queued_with_analysis(tenant: Tenant) -> None:
    body = create(tenant, campaignName="Spring offer")
    assert body["state"] == "Queued" and body["type"] == "Sms"
    assert "scheduledDate" not in body
    assert body["campaignName"] == "Spring offer"
    assert body["to"] == [GR, US] and body["contacts"] == [] and body["groups"] == []
    assert body["statuses"] == {
        "Queued": 0,
        "Sent": 0,
        "Unsent": 0,
        "Failed": 0,
        "Delivered": 0,
        "Undelivered": 0,
    }
    analysis = body["smsAnalysis"]
    assert analysis["numberOfRecipients"] == 2
    assert analysis["recipientsPerCountry"] == {"GR": 1, "US": 1}
    assert analysis["recipientCountries"] == {GR: "GR", US: "US"}
    assert analysis["bodyAnalysis"] == {"characters": 11, "parts": 1, "unicode": False}
    assert body["totalMessages"] == 2
    assert body["cost"] == pytest.approx(0.042 + 0.008)
    assert body["createdAt"].endswith("Z")


def test_create_scheduled(tenant: Tenant) -> None:
    when = future(3)
    body = create(tenant, scheduledDate=when)
    assert body["state"] == "Scheduled"
    assert body["scheduledDate"] == when.replace("Z", ".000Z")


def test_scheduled_date_forms(tenant: Tenant) -> None:
    epoch = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    assert create(tenant, scheduledDate=epoch)["state"] == "Scheduled"
    offset = (datetime.now(UTC) + timedelta(hours=5)).astimezone().strftime("%Y-%m-%dT%H:%M:%S+03:00")
    assert create(tenant, scheduledDate=offset)["state"] in ("Scheduled", "Queued")
    past = create(tenant, scheduledDate="2020-01-01T00:00:00Z")
    assert past["state"] == "Queued"


def test_duplicates_are_counted_once_and_parts_priced(tenant: Tenant) -> None:
    body = create(tenant, to=[GR, GR, GR2], body="x" * 161)
    assert body["smsAnalysis"]["numberOfRecipients"] == 2
    assert body["totalMessages"] == 4
    assert body["cost"] == pytest.approx(4 * 0.042)


def test_personalisation_counts_parts_per_recipient(tenant: Tenant) -> None:
    add_contact(tenant, GR, firstName="A" * 150)
    body = create(tenant, to=[GR, GR2], body="Hi [~firstName]!", fallbackValues={"firstName": "friend"})
    # GR: "Hi " + 150 chars + "!" = 154 septets → 1 part; GR2 uses the fallback → 1 part.
    assert body["totalMessages"] == 2
    body = create(
        tenant, to=[GR, GR2], body="Hi [~firstName], hello!!", fallbackValues={"firstName": "friend"}
    )
    assert body["totalMessages"] == 3


def test_contacts_and_groups_are_recipients(tenant: Tenant) -> None:
    first = add_contact(tenant, GR, firstName="Ann")
    add_contact(tenant, US, firstName="Bob")
    response = tenant.post("/groups/my", json={"name": "customers", "strategy": "All"})
    assert response.status_code == 200, response.text
    body = create(tenant, to=[], contacts=[first], groups=["customers"])
    analysis = body["smsAnalysis"]
    assert analysis["numberOfRecipients"] == 2
    assert analysis["recipientsPerGroup"] == {"customers": 2} and analysis["totalInGroups"] == 2
    assert analysis["contacts"] == {first: {"recipient": GR, "recipientCountry": "GR", "blacklisted": False}}


def test_loose_client_inputs(tenant: Tenant) -> None:
    add_contact(tenant, GR)
    assert tenant.post("/groups/my", json={"name": "1", "strategy": "All"}).status_code == 200
    body = create(
        tenant,
        to=[],
        groups=[1],
        flash="true",
        respectQuietHours="false",
        scheduledDate=future(),
        reminder={"minutesBefore": "5", "recipients": [US]},
        smsCallback={"url": "http://x"},
        label="ignored",
    )
    assert body["flash"] is True and body["respectQuietHours"] is False
    assert body["reminder"] == {"minutesBefore": 5, "to": [US]}
    assert body["groups"] == ["1"]


def test_callbacks_are_kept(tenant: Tenant) -> None:
    body = create(
        tenant,
        callback={"url": "https://example.com/cb", "strategy": "OnCompletion"},
        campaignCallback={"url": "http://example.com/c", "strategy": "OnChange"},
    )
    assert body["callback"] == {"url": "https://example.com/cb", "strategy": "OnCompletion"}
    assert body["campaignCallback"] == {"url": "http://example.com/c", "strategy": "OnChange"}


# --- create errors, in order ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"body": None}, "body"),
        ({"from": None}, "from"),
        ({"to": ["306948530920"]}, "to"),
        ({"to": ["+3069"]}, "to"),
        ({"to": "not a list"}, "to"),
        ({"campaignName": "x"}, "campaignName"),
        ({"campaignName": "Ωmega offer"}, "campaignName"),
        ({"campaignName": "a" * 31}, "campaignName"),
        ({"scheduledDate": "2026-12-01T10:00:00"}, "scheduledDate"),
        ({"scheduledDate": "tomorrow"}, "scheduledDate"),
        ({"reminder": {"minutesBefore": 5, "to": [GR]}}, "reminder"),
        ({"callback": {"url": "ftp://x/y", "strategy": "OnChange"}}, "callback.url"),
        ({"callback": {"url": "/relative", "strategy": "OnChange"}}, "callback.url"),
        ({"callback": {"url": "http://x", "strategy": "Sometimes"}}, "callback.strategy"),
        (
            {"campaignCallback": {"url": "http://169.254.169.254/latest", "strategy": "OnChange"}},
            "campaignCallback.url",
        ),
        ({"body": "x" * 1601}, "body"),
        ({"flash": "maybe"}, "flash"),
    ],
)
def test_field_rules(tenant: Tenant, overrides: dict[str, Any], field: str) -> None:
    payload = campaign(**overrides)
    payload = {k: v for k, v in payload.items() if v is not None}
    body = assert_error(tenant.post("/sms/campaign", json=payload), 400, "400000000")
    assert field in body["properties"], body


def test_too_many_numbers(tenant: Tenant) -> None:
    payload = campaign(to=[GR] * 30_001)
    body = assert_error(tenant.post("/sms/campaign", json=payload), 400, "400000000")
    assert "to" in body["properties"]


def test_malformed_json(tenant: Tenant) -> None:
    response = tenant.http.post(
        "/sms/campaign", content=b"{not json", headers={**tenant.headers, "Content-Type": "application/json"}
    )
    body = assert_error(response, 400, "400000000")
    assert body["properties"] == {"body": "Malformed JSON"}


@pytest.mark.parametrize("sender", ["+306948530920", "TOOLONGSENDER", "ACME!", "12345678901234567", ""])
def test_invalid_sender(tenant: Tenant, sender: str) -> None:
    body = assert_error(tenant.post("/sms/campaign", json=campaign(**{"from": sender})), 400, "400005000")
    assert "from" in body["properties"]


def test_no_recipients(tenant: Tenant) -> None:
    assert_error(tenant.post("/sms/campaign", json=campaign(to=[])), 400, "400005000")
    assert_error(tenant.post("/sms/campaign", json={"body": "x", "from": "ACME"}), 400, "400005000")


def test_unknown_contact_and_group(tenant: Tenant, other_tenant: Tenant) -> None:
    assert_error(tenant.post("/sms/campaign", json=campaign(contacts=["0" * 24])), 404, "404002001")
    foreign = add_contact(other_tenant, GR)
    assert_error(tenant.post("/sms/campaign", json=campaign(contacts=[foreign])), 404, "404002001")
    assert_error(tenant.post("/sms/campaign", json=campaign(groups=["nope"])), 404, "404002003")


def test_everyone_blacklisted(tenant: Tenant) -> None:
    contact = add_contact(tenant, GR)
    assert tenant.post("/contacts/my/blacklist/Sms", json=[contact]).status_code == 200
    assert_error(tenant.post("/sms/campaign", json=campaign(to=[GR])), 400, "400009004")
    assert_error(tenant.post("/sms/campaign", json=campaign(to=[], contacts=[contact])), 400, "400009004")
    body = create(tenant, to=[GR, US])
    assert body["smsAnalysis"]["numberOfRecipients"] == 1


def test_name_unique_case_insensitive(tenant: Tenant, other_tenant: Tenant) -> None:
    create(tenant, campaignName="Black Friday")
    assert_error(tenant.post("/sms/campaign", json=campaign(campaignName="black friday")), 409, "409009003")
    create(other_tenant, campaignName="Black Friday")


def test_insufficient_balance(container: Container, tenant: Tenant) -> None:
    poor = new_tenant(container, tenant.http, balance="0.01")
    assert_error(poor.post("/sms/campaign", json=campaign(to=[GR])), 400, "400001009")
    assert poor.get("/campaigns").json()["totalElements"] == 0


def test_error_order(container: Container, tenant: Tenant) -> None:
    poor = new_tenant(container, tenant.http, balance="0")
    # field rule beats sender
    assert_error(poor.post("/sms/campaign", json=campaign(to=["bad"], **{"from": "+1"})), 400, "400000000")
    # sender beats unknown contact
    assert_error(
        poor.post("/sms/campaign", json=campaign(contacts=["0" * 24], **{"from": "+1"})), 400, "400005000"
    )
    # unknown contact beats balance
    assert_error(poor.post("/sms/campaign", json=campaign(contacts=["0" * 24])), 404, "404002001")
    # name conflict beats balance
    create(tenant, campaignName="Order test")
    rich_body = campaign(campaignName="Order test", body="x" * 1600, to=[GR])
    assert_error(tenant.post("/sms/campaign", json=rich_body), 409, "409009003")


# --- analyse ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/sms/analyze/campaign", "/sms/analyse/campaign"])
def test_analyse_campaign_creates_nothing(tenant: Tenant, path: str) -> None:
    response = tenant.post(path, json=campaign(body="Γειά σου [~firstName]", campaignName="Dry run"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["smsAnalysis"]["numberOfRecipients"] == 2
    assert body["smsAnalysis"]["bodyAnalysis"]["unicode"] is True
    assert body["totalMessages"] == 2 and body["cost"] > 0
    assert tenant.get("/campaigns").json()["totalElements"] == 0
    create(tenant, campaignName="Dry run")


def test_transcoding_lowers_parts(tenant: Tenant) -> None:
    text = "Καλημέρα σας! Προσφορά μόνο για σήμερα: έκπτωση σε όλα τα προϊόντα μας, ελάτε"
    plain = tenant.post("/sms/analyze/campaign", json=campaign(body=text, to=[GR])).json()
    transcoded = tenant.post(
        "/sms/analyze/campaign", json=campaign(body=text, to=[GR], transcode=True)
    ).json()
    assert plain["totalMessages"] == 2 and transcoded["totalMessages"] == 1
    assert plain["smsAnalysis"]["bodyAnalysis"]["transcode"]["parts"] == 1


# --- update (the seed) -----------------------------------------------------------------------------------


def test_update_replaces_the_whole_definition(tenant: Tenant) -> None:
    original = create(
        tenant,
        scheduledDate=future(),
        campaignName="Autumn",
        flash=True,
        callback={"url": "http://example.com/cb", "strategy": "OnChange"},
    )
    when = future(5)
    response = tenant.put(
        f"/sms/{original['trackingId']}",
        json={
            "body": "New text",
            "from": "12345",
            "to": [US],
            "scheduledDate": when,
            "campaignName": "Autumn",
        },
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["trackingId"] == original["trackingId"]
    assert updated["state"] == "Scheduled" and updated["body"] == "New text" and updated["from"] == "12345"
    assert updated["to"] == [US] and updated["flash"] is False and "callback" not in updated
    assert updated["scheduledDate"] == when.replace("Z", ".000Z")
    assert updated["smsAnalysis"]["recipientsPerCountry"] == {"US": 1}
    details = tenant.get(f"/campaigns/{original['trackingId']}").json()
    assert details["body"] == "New text" and details["createdAt"] == original["createdAt"]


def test_update_without_date_sends_now(tenant: Tenant) -> None:
    original = create(tenant, scheduledDate=future())
    updated = tenant.put(f"/sms/{original['trackingId']}", json=campaign()).json()
    assert updated["state"] == "Queued" and "scheduledDate" not in updated
    assert_error(tenant.put(f"/sms/{original['trackingId']}", json=campaign()), 400, "400009002")


def test_update_errors_change_nothing(container: Container, tenant: Tenant, other_tenant: Tenant) -> None:
    original = create(tenant, scheduledDate=future(), campaignName="Keep me")
    path = f"/sms/{original['trackingId']}"
    create(tenant, campaignName="Other name")
    cases = [
        (campaign(to=["bad"], scheduledDate=future()), 400, "400000000"),
        (campaign(scheduledDate=future(), **{"from": "+30"}), 400, "400005000"),
        (campaign(scheduledDate=future(), to=[]), 400, "400005000"),
        (campaign(scheduledDate=future(), contacts=["f" * 24]), 404, "404002001"),
        (campaign(scheduledDate=future(), groups=["missing"]), 404, "404002003"),
        (campaign(scheduledDate=future(), campaignName="OTHER NAME"), 409, "409009003"),
        (
            campaign(
                scheduledDate=future(), to=[GR] + [f"+3069485{n:05d}" for n in range(1, 400)], body="x" * 1600
            ),
            400,
            "400001009",
        ),
    ]
    poor = new_tenant(container, tenant.http, balance="1")
    poor_campaign = create(poor, scheduledDate=future(), to=[GR])
    for payload, status, code in cases:
        target = tenant if code != "400001009" else poor
        target_path = path if code != "400001009" else f"/sms/{poor_campaign['trackingId']}"
        assert_error(target.put(target_path, json=payload), status, code)
    details = tenant.get(f"/campaigns/{original['trackingId']}").json()
    assert details["body"] == original["body"] and details["campaignName"] == "Keep me"
    assert details["to"] == original["to"] and details["state"] == "Scheduled"
    # the campaign's own name does not conflict with itself (case changes allowed)
    renamed = tenant.put(path, json=campaign(scheduledDate=future(), campaignName="KEEP ME"))
    assert renamed.status_code == 200 and renamed.json()["campaignName"] == "KEEP ME"
    # another account's campaign does not exist for this one
    assert_error(other_tenant.put(path, json=campaign(scheduledDate=future())), 404, "404009001")
    assert_error(tenant.put("/sms/00000000-0000-0000-0000-000000000000", json=campaign()), 404, "404009001")


def test_lookup_and_state_come_before_validation(tenant: Tenant) -> None:
    assert_error(tenant.put("/sms/unknown-id", json=campaign(to=["bad"])), 404, "404009001")
    queued = create(tenant)
    assert_error(tenant.put(f"/sms/{queued['trackingId']}", json=campaign(to=["bad"])), 400, "400009002")


# --- cancel, read, list ----------------------------------------------------------------------------------


def test_cancel(tenant: Tenant, other_tenant: Tenant) -> None:
    scheduled = create(tenant, scheduledDate=future())
    path = f"/sms/{scheduled['trackingId']}"
    assert_error(other_tenant.delete(path), 404, "404009001")
    response = tenant.http.request(
        "DELETE", path, headers={**tenant.headers, "Content-Type": "application/json"}, content=b"{}"
    )
    assert response.status_code == 200 and response.json()["state"] == "Cancelled"
    assert_error(tenant.delete(path), 400, "400009002")
    assert_error(tenant.put(path, json=campaign(scheduledDate=future())), 400, "400009002")
    assert tenant.get(f"/campaigns/{scheduled['trackingId']}").json()["state"] == "Cancelled"
    assert_error(tenant.delete(f"/sms/{create(tenant)['trackingId']}"), 400, "400009002")
    assert_error(tenant.delete("/sms/nope"), 404, "404009001")


def test_details_and_list(tenant: Tenant, other_tenant: Tenant) -> None:
    first = create(tenant, campaignName="First one", scheduledDate=future())
    second = create(tenant, campaignName="Second one")
    assert_error(other_tenant.get(f"/campaigns/{first['trackingId']}"), 404, "404009001")
    details = tenant.get(f"/campaigns/{first['trackingId']}").json()
    assert details["smsAnalysis"] == first["smsAnalysis"] and details["state"] == "Scheduled"
    page = tenant.get("/campaigns", params={"size": 1}).json()
    assert page["totalElements"] == 2 and page["content"][0]["trackingId"] == second["trackingId"]
    assert tenant.get("/campaigns", params={"state": "Scheduled"}).json()["totalElements"] == 1
    assert (
        tenant.get("/campaigns", params={"name": "second"}).json()["content"][0]["campaignName"]
        == "Second one"
    )
    assert_error(tenant.get("/campaigns", params={"state": "Bogus"}), 400, "400000000")
    assert other_tenant.get("/campaigns").json()["totalElements"] == 0


def test_scope_sms_required(container: Container, tenant: Tenant) -> None:
    contacts_only = new_tenant(container, tenant.http, scope="contact")
    assert_error(contacts_only.post("/sms/campaign", json=campaign()), 403, "403000000")
