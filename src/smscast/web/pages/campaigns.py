"""Campaign pages: the list, a campaign's live page, and create / edit / cancel of a scheduled campaign.

Handlers parse, call the same ``CampaignService`` and ``TrackingService`` methods as the API, and render.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from functools import partial
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from smscast.bootstrap import Container
from smscast.db.campaigns import ProgressPoint
from smscast.domain.auth import Principal
from smscast.domain.campaigns import SETTLED_STATES, CampaignState
from smscast.domain.errors import DomainError
from smscast.domain.statuses import FINAL_VALUES, MessageStatus
from smscast.services.campaigns import CampaignView
from smscast.web import charts
from smscast.web.forms import (
    FormErrors,
    definition_from_values,
    empty_values,
    errors_of,
    values_from_definition,
    values_from_form,
)
from smscast.web.pages.common import PageNumber, Pager, done_message
from smscast.web.rendering import DashboardRoute, is_htmx, render
from smscast.web.session import UI_PREFIX, CheckedForm, Session, WebSession, container

router = APIRouter(prefix=f"{UI_PREFIX}/campaigns", route_class=DashboardRoute, include_in_schema=False)

LIST_SIZE: Final = 20
MESSAGES_SIZE: Final = 25
STATES: Final = tuple(s.value for s in CampaignState)
MESSAGE_FILTERS: Final = tuple(s.value for s in MessageStatus)


def finished_parts(statuses: Mapping[str, int]) -> int:
    return sum(count for status, count in statuses.items() if status in FINAL_VALUES)


def expected_parts(view: CampaignView) -> int:
    return max(view.row.total_messages, sum(view.statuses.values()))


def recipients(view: CampaignView) -> int:
    return int(view.analysis.get("smsAnalysis", {}).get("numberOfRecipients", 0))


def _currency(services: Container, principal: Principal) -> str:
    return services.accounts.account(principal.account_id).currency


@router.get("")
def campaign_list(
    request: Request,
    session: WebSession,
    state: str | None = None,
    name: str | None = None,
    page: PageNumber = 0,
) -> Response:
    principal = session.require("sms")
    services = container(request)
    chosen_state = state if state in STATES else None
    result = services.campaigns.page(principal, page, LIST_SIZE, chosen_state, name or None)
    filters = {"state": chosen_state or "", "name": name or ""}
    return render(
        request,
        "campaigns/list.html",
        {
            "session": session,
            "nav": "campaigns",
            "views": result.items,
            "states": STATES,
            "filters": filters,
            "pager": Pager.of(result, f"{UI_PREFIX}/campaigns", filters),
            "currency": _currency(services, principal),
            "finished_parts": finished_parts,
            "expected_parts": expected_parts,
            "recipients": recipients,
            "done": done_message(request),
        },
    )


# --- create --------------------------------------------------------------------------------------------


def _form_page(
    request: Request,
    session: Session,
    *,
    values: Mapping[str, Any],
    errors: FormErrors | None = None,
    view: CampaignView | None = None,
    analysis: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    services = container(request)
    principal = session.principal
    groups = services.groups.list_all(principal.account_id) if principal.has("contact") else []
    return render(
        request,
        "campaigns/form.html",
        {
            "session": session,
            "nav": "campaigns",
            "values": values,
            "errors": errors or FormErrors(),
            "view": view,
            "groups": groups,
            "analysis": analysis,
            "currency": _currency(services, principal),
        },
        status_code=status_code,
    )


@router.get("/new")
def new_campaign(request: Request, session: WebSession) -> Response:
    session.require("sms")
    return _form_page(request, session, values=empty_values())


@router.post("/new")
async def create_campaign(request: Request, session: WebSession, form: CheckedForm) -> Response:
    principal = session.require("sms")
    services = container(request)
    values = values_from_form(form)
    errors: FormErrors | None = None
    analysis: dict[str, Any] | None = None
    status_code = 200
    try:
        definition = definition_from_values(values, services.clock.now())
        if form.get("action") == "analyse":
            analysis = await run_in_threadpool(services.campaigns.analyse, principal, definition)
        else:
            view = await run_in_threadpool(services.campaigns.create, principal, definition)
            return RedirectResponse(
                f"{UI_PREFIX}/campaigns/{view.row.tracking_id}?done=created", status_code=303
            )
    except FormErrors as exc:
        errors, status_code = exc, 400
    except DomainError as exc:
        errors, status_code = errors_of(exc), exc.status
    page = partial(
        _form_page, request, session, values=values, errors=errors, analysis=analysis, status_code=status_code
    )
    return await run_in_threadpool(page)


# --- one campaign --------------------------------------------------------------------------------------


def poll_interval_s(view: CampaignView) -> int:
    """How often the page asks for progress: a scheduled campaign only needs to notice that it started;
    a running one shows every change, less often when it is big (each look counts all its parts)."""
    if view.row.state is CampaignState.SCHEDULED:
        return 5
    total = expected_parts(view)
    return 2 if total <= 20_000 else 5 if total <= 200_000 else 15


#: Timelines of settled campaigns never change: keep the last few (per process) instead of recounting.
_SETTLED_TIMELINES: Final = 64


def _timeline(request: Request, principal: Principal, view: CampaignView) -> list[ProgressPoint]:
    services = container(request)
    tracking_id = view.row.tracking_id
    if view.row.state not in SETTLED_STATES:
        return services.campaigns.progress_timeline(principal, tracking_id)
    cache: OrderedDict[tuple[str, str], list[ProgressPoint]] = request.app.state.dashboard_timelines
    key = (principal.account_id, tracking_id)
    samples = cache.get(key)
    if samples is None:
        samples = services.campaigns.progress_timeline(principal, tracking_id)
        cache[key] = samples
        while len(cache) > _SETTLED_TIMELINES:
            cache.popitem(last=False)
    return samples


def _progress(request: Request, principal: Principal, view: CampaignView) -> dict[str, Any]:
    services = container(request)
    tracking_id = view.row.tracking_id
    samples = _timeline(request, principal, view)
    total = expected_parts(view)
    live = view.row.state not in SETTLED_STATES
    return {
        "view": view,
        "state": view.row.state.value,
        "editable": view.row.state is CampaignState.SCHEDULED,
        "live": live,
        "poll_s": poll_interval_s(view),
        "total": total,
        "finished": finished_parts(view.statuses),
        "bar": charts.status_bar(view.statuses, total),
        "bar_width": charts.BAR_WIDTH,
        "chart": charts.timeline(samples),
        "samples": samples,
        "quiet": services.campaigns.quiet_hours_report(principal, tracking_id),
        "fingerprint": _fingerprint(view),
        "statuses": view.statuses,
        "bar_statuses": charts.BAR_STATUSES,
    }


def _fingerprint(view: CampaignView) -> str:
    """Changes whenever the campaign's state or any status count does (the table then refreshes)."""
    counts = "-".join(str(view.statuses.get(status, 0)) for status in charts.BAR_STATUSES)
    return f"{view.row.state.value}-{counts}"


def _messages(
    services: Container, principal: Principal, tracking_id: str, status: str | None, page: int
) -> dict[str, Any]:
    chosen = status if status in MESSAGE_FILTERS else None
    result = services.tracking.campaign(
        principal, tracking_id, page, MESSAGES_SIZE, chosen, "createdAt", False
    )
    base = f"{UI_PREFIX}/campaigns/{tracking_id}"
    return {
        "parts": result.items,
        "message_status": chosen or "",
        "message_filters": MESSAGE_FILTERS,
        "messages_pager": Pager.of(result, base, {"status": chosen or ""}, anchor="messages"),
        "messages_url": f"{base}/messages",
        # The refresh takes the status from the select as it is when it fires (hx-include), and one request
        # of the table replaces another (hx-sync): a refresh sent before the filter changed cannot land
        # after it and bring the old filter back.
        "messages_refresh_url": f"{base}/messages?" + urlencode({"page": page}),
        "campaign_url": base,
    }


@router.get("/{tracking_id}")
def campaign_page(
    request: Request,
    session: WebSession,
    tracking_id: str,
    status: str | None = None,
    page: PageNumber = 0,
) -> Response:
    principal = session.require("sms")
    services = container(request)
    view = services.campaigns.get(principal, tracking_id)
    return render(
        request,
        "campaigns/detail.html",
        {
            "session": session,
            "nav": "campaigns",
            "currency": _currency(services, principal),
            "done": done_message(request),
            **_progress(request, principal, view),
            **_messages(services, principal, tracking_id, status, page),
        },
    )


@router.get("/{tracking_id}/progress")
def campaign_progress(
    request: Request, session: WebSession, tracking_id: str, seen: str | None = None
) -> Response:
    """The live part of the campaign page, polled by htmx while the campaign is not settled. ``seen`` is
    the fingerprint the page last showed: when the campaign has changed since, the message table is told
    to refresh too."""
    principal = session.require("sms")
    services = container(request)
    view = services.campaigns.get(principal, tracking_id)
    response = render(
        request,
        "campaigns/_progress.html",
        {
            "session": session,
            "fragment": True,
            "currency": _currency(services, principal),
            **_progress(request, principal, view),
        },
    )
    if seen != _fingerprint(view):
        response.headers["HX-Trigger"] = "campaign-changed"
    return response


@router.get("/{tracking_id}/messages")
def campaign_messages(
    request: Request,
    session: WebSession,
    tracking_id: str,
    status: str | None = None,
    page: PageNumber = 0,
) -> Response:
    """The message table alone (htmx); a plain visit goes to the campaign page with the same filter."""
    principal = session.require("sms")
    if not is_htmx(request):
        query = urlencode({k: v for k, v in (("status", status), ("page", page)) if v})
        return RedirectResponse(
            f"{UI_PREFIX}/campaigns/{tracking_id}" + (f"?{query}" if query else ""), status_code=303
        )
    services = container(request)
    view = services.campaigns.get(principal, tracking_id)
    return render(
        request,
        "campaigns/_messages.html",
        {
            "session": session,
            "view": view,
            "live": view.row.state not in SETTLED_STATES,
            "currency": _currency(services, principal),
            **_messages(services, principal, tracking_id, status, page),
        },
    )


# --- edit and cancel -----------------------------------------------------------------------------------


@router.get("/{tracking_id}/edit")
def edit_campaign_form(request: Request, session: WebSession, tracking_id: str) -> Response:
    principal = session.require("sms")
    view = container(request).campaigns.get(principal, tracking_id)
    if view.row.state is not CampaignState.SCHEDULED:
        return RedirectResponse(f"{UI_PREFIX}/campaigns/{tracking_id}?done=not-scheduled", status_code=303)
    values = values_from_definition(view.definition, view.row.scheduled_date)
    return _form_page(request, session, values=values, view=view)


@router.post("/{tracking_id}/edit")
async def edit_campaign(
    request: Request, session: WebSession, tracking_id: str, form: CheckedForm
) -> Response:
    principal = session.require("sms")
    services = container(request)
    values = values_from_form(form)
    view = await run_in_threadpool(services.campaigns.get, principal, tracking_id)
    errors: FormErrors | None = None
    analysis: dict[str, Any] | None = None
    status_code = 200
    try:
        definition = definition_from_values(values, services.clock.now(), keep=view.definition)
        if form.get("action") == "analyse":
            analysis = await run_in_threadpool(services.campaigns.analyse, principal, definition)
        else:
            await run_in_threadpool(services.campaigns.update_scheduled, principal, tracking_id, definition)
            return RedirectResponse(f"{UI_PREFIX}/campaigns/{tracking_id}?done=updated", status_code=303)
    except FormErrors as exc:
        errors, status_code = exc, 400
    except DomainError as exc:
        if exc.code == "400009002":
            return RedirectResponse(
                f"{UI_PREFIX}/campaigns/{tracking_id}?done=not-scheduled", status_code=303
            )
        errors, status_code = errors_of(exc), exc.status
    page = partial(
        _form_page,
        request,
        session,
        values=values,
        view=view,
        errors=errors,
        analysis=analysis,
        status_code=status_code,
    )
    return await run_in_threadpool(page)


@router.get("/{tracking_id}/cancel")
def cancel_confirm(request: Request, session: WebSession, tracking_id: str) -> Response:
    principal = session.require("sms")
    view = container(request).campaigns.get(principal, tracking_id)
    return render(request, "campaigns/cancel.html", {"session": session, "nav": "campaigns", "view": view})


@router.post("/{tracking_id}/cancel")
async def cancel_campaign(
    request: Request, session: WebSession, tracking_id: str, _form: CheckedForm
) -> Response:
    principal = session.require("sms")
    try:
        await run_in_threadpool(container(request).campaigns.cancel, principal, tracking_id)
    except DomainError as exc:
        if exc.code != "400009002":
            raise
        return RedirectResponse(f"{UI_PREFIX}/campaigns/{tracking_id}?done=not-scheduled", status_code=303)
    return RedirectResponse(f"{UI_PREFIX}/campaigns/{tracking_id}?done=cancelled", status_code=303)
