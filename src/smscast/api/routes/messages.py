"""Single-message endpoints (api.md §3.2, §3.3)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from smscast.api.deps import Services, SmsPrincipal
from smscast.api.schemas.campaigns import AnalyzeIn, SmsIn
from smscast.api.wire import format_timestamp
from smscast.domain.analysis import body_analysis_json
from smscast.services.messages import SingleMessage

router = APIRouter(tags=["messages"])


@router.post("/sms")
def send_sms(request: SmsIn, principal: SmsPrincipal, services: Services) -> dict[str, Any]:
    """Send one SMS."""
    sent = services.messages.send(
        principal,
        SingleMessage(
            body=request.body,
            to=request.to,
            sender=request.from_,
            flash=request.flash,
            label=request.label,
            callback=request.callback.to_domain() if request.callback else None,
            ttl_minutes=request.ttl,
            transcode=request.transcode,
        ),
    )
    out: dict[str, Any] = {
        "trackingId": sent.tracking_id,
        "status": "Queued",
        "createdAt": format_timestamp(sent.created_at),
        "from": request.from_,
        "to": request.to,
        "body": request.body,
        "bodyAnalysis": body_analysis_json(sent.body_analysis),
        "flash": request.flash,
    }
    if request.label is not None:
        out["label"] = request.label
    if request.callback is not None:
        out["callback"] = request.callback.to_domain().to_json()
    if request.ttl is not None:
        out["ttl"] = request.ttl
    return out


@router.post("/sms/analyze")
@router.post("/sms/analyse", include_in_schema=False)
def analyse_body(request: AnalyzeIn, principal: SmsPrincipal, services: Services) -> dict[str, Any]:
    """How a body is encoded and split, and what it costs to ``to``."""
    quote = services.messages.analyse(request.body, request.from_, request.to)
    out: dict[str, Any] = {"bodyAnalysis": body_analysis_json(quote.body_analysis)}
    if quote.cost is not None:
        out["cost"] = float(quote.cost)
    return out
