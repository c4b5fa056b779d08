"""Campaign endpoints (api.md §4): create, update a scheduled campaign (the seed), cancel, read, list,
analyse. Handlers parse, call one service method and shape the response."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from smscast.api.deps import PagingParams, Services, SmsPrincipal, page_body
from smscast.api.schemas.campaigns import CampaignIn
from smscast.api.wire import format_timestamp
from smscast.domain.campaigns import CampaignState
from smscast.domain.errors import validation_error
from smscast.services.campaigns import CampaignView

router = APIRouter(tags=["campaigns"])


class CampaignResponse(JSONResponse):
    """A campaign's JSON, encoded by orjson. With 20,000 numbers the body is ~750 KB (``to`` and
    ``recipientCountries``); the standard encoder held the GIL for it for 10–90 ms, in which the engine
    beside the API could not start the campaign: `POST /sms/campaign` was answered in 0.16–0.24 s instead
    of ~0.08 s, and the first part was handed over ~60 ms later (docs/performance.md item 26)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def campaign_json(view: CampaignView) -> dict[str, Any]:
    row, definition = view.row, view.definition
    out: dict[str, Any] = {
        "trackingId": row.tracking_id,
        "type": "Sms",
        "state": row.state.value,
        "createdAt": format_timestamp(row.created_at),
    }
    if row.scheduled_date is not None:
        out["scheduledDate"] = format_timestamp(row.scheduled_date)
    if definition.name is not None:
        out["campaignName"] = definition.name
    stored = definition.to_json()
    out["from"] = definition.sender
    out["body"] = definition.body
    out["to"] = list(definition.to)
    out["contacts"] = list(definition.contacts)
    out["groups"] = list(definition.groups)
    out["flash"] = definition.flash
    out["respectQuietHours"] = definition.respect_quiet_hours
    for key in ("callback", "campaignCallback", "reminder", "transcode"):
        if key in stored:
            out[key] = stored[key]
    if definition.fallback_values:
        out["fallbackValues"] = dict(definition.fallback_values)
    out["statuses"] = view.statuses
    if view.quiet_hours_report is not None:
        out["quietHoursReport"] = view.quiet_hours_report
    out.update(view.analysis)
    if row.failure_reason:
        out["failureReason"] = row.failure_reason
    return out


@router.post("/sms/campaign")
def create_campaign(request: CampaignIn, principal: SmsPrincipal, services: Services) -> CampaignResponse:
    """Send (or schedule) an SMS campaign."""
    return CampaignResponse(campaign_json(services.campaigns.create(principal, request.to_domain())))


@router.put("/sms/{tracking_id}")
def update_campaign(
    tracking_id: str, request: CampaignIn, principal: SmsPrincipal, services: Services
) -> CampaignResponse:
    """Replace a scheduled campaign's definition. Without ``scheduledDate`` it is sent now."""
    view = services.campaigns.update_scheduled(principal, tracking_id, request.to_domain())
    return CampaignResponse(campaign_json(view))


@router.delete("/sms/{tracking_id}")
def cancel_campaign(tracking_id: str, principal: SmsPrincipal, services: Services) -> CampaignResponse:
    """Cancel a scheduled campaign; it stays readable with state ``Cancelled``."""
    return CampaignResponse(campaign_json(services.campaigns.cancel(principal, tracking_id)))


@router.get("/campaigns/{tracking_id}")
def campaign_details(tracking_id: str, principal: SmsPrincipal, services: Services) -> CampaignResponse:
    return CampaignResponse(campaign_json(services.campaigns.get(principal, tracking_id)))


@router.get("/campaigns")
def list_campaigns(
    principal: SmsPrincipal,
    services: Services,
    paging: PagingParams,
    state: str | None = None,
    name: str | None = None,
) -> CampaignResponse:
    """This account's campaigns, newest first, optionally filtered by state and by part of the name."""
    if state is not None and state not in {s.value for s in CampaignState}:
        raise validation_error("state", f"one of {', '.join(s.value for s in CampaignState)}")
    page = services.campaigns.page(principal, paging.page, paging.size, state, name)
    return CampaignResponse(
        page_body([campaign_json(v) for v in page.items], page.total, page.page, page.size)
    )


@router.post("/sms/analyze/campaign")
@router.post("/sms/analyse/campaign", include_in_schema=False)
def analyse_campaign(request: CampaignIn, principal: SmsPrincipal, services: Services) -> CampaignResponse:
    """The campaign's analysis (recipients per country and group, parts, cost) without creating it."""
    return CampaignResponse(services.campaigns.analyse(principal, request.to_domain()))
