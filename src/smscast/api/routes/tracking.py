"""Tracking endpoints (api.md §5)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from smscast.api.deps import PagingParams, Services, SmsPrincipal, page_body
from smscast.api.wire import format_timestamp, parse_timestamp
from smscast.db.tracking import TrackedPart
from smscast.domain.errors import validation_error
from smscast.domain.statuses import DETAILED_DESCRIPTIONS

router = APIRouter(tags=["tracking"])


def tracking_json(part: TrackedPart) -> dict[str, Any]:
    detailed = part.detailed_status or part.status
    out: dict[str, Any] = {"smsId": part.sms_id, "messageId": part.message_id}
    if part.campaign_id is not None:
        out["campaignTrackingId"] = part.campaign_id
        if part.campaign_name:
            out["campaignName"] = part.campaign_name
    out.update(
        {
            "to": part.to,
            "from": part.sender,
            "country": part.country,
            "groups": json.loads(part.groups) if part.groups else [],
            "body": part.body,
        }
    )
    if part.label is not None:
        out["label"] = part.label
    out.update(
        {
            "applicationName": part.application_name,
            "originatingService": "Sms",
            "part": part.part,
            "parts": part.parts,
            "price": float(part.price or 0),
        }
    )
    if part.submitted_at is not None and part.delivered_at is not None:
        out["latency"] = round((part.delivered_at - part.submitted_at).total_seconds(), 3)
    out["direction"] = "Outbound"
    out["status"] = {
        "status": part.status,
        "date": format_timestamp(part.status_date),
        "reason": {"detailedStatus": detailed, "description": DETAILED_DESCRIPTIONS.get(detailed, detailed)},
    }
    return out


@router.get("/sms/tracking/single/{message_id}")
def track_message(message_id: str, principal: SmsPrincipal, services: Services) -> list[dict[str, Any]]:
    """Every part of one message."""
    return [tracking_json(p) for p in services.tracking.message(principal, message_id)]


@router.get("/sms/tracking/campaign/{tracking_id}")
def track_campaign(
    tracking_id: str,
    principal: SmsPrincipal,
    services: Services,
    paging: PagingParams,
    status: str | None = None,
) -> dict[str, Any]:
    """A page of a campaign's message parts, optionally of one status."""
    page = services.tracking.campaign(
        principal, tracking_id, paging.page, paging.size, status, paging.sort_field, paging.sort_desc
    )
    return page_body([tracking_json(p) for p in page.items], page.total, page.page, page.size)


@router.post("/sms/tracking")
def search_tracking(
    principal: SmsPrincipal,
    services: Services,
    paging: PagingParams,
    filters: Annotated[list[dict[str, Any]] | None, Body()] = None,
    date_start: Annotated[str | None, Query(alias="dateStart")] = None,
    date_end: Annotated[str | None, Query(alias="dateEnd")] = None,
    tracking_id: Annotated[str | None, Query(alias="trackingId")] = None,
    campaign: str | None = None,
) -> dict[str, Any]:
    """Parts matching every ``{fieldName, searchTerm}`` filter, within the dates."""
    terms: list[tuple[str, str]] = []
    for item in filters or []:
        field, term = item.get("fieldName"), item.get("searchTerm")
        if not isinstance(field, str) or term is None:
            raise validation_error("body", "filters are [{fieldName, searchTerm}]")
        terms.append((field, str(term)))
    start = _date("dateStart", date_start)
    end = _date("dateEnd", date_end)
    page = services.tracking.search(
        principal,
        terms,
        date_start=start,
        date_end=end,
        tracking_id=tracking_id or campaign,
        page=paging.page,
        size=paging.size,
        sort=paging.sort_field,
        descending=paging.sort_desc,
    )
    return page_body([tracking_json(p) for p in page.items], page.total, page.page, page.size)


def _date(field: str, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise validation_error(field, str(exc)) from None
