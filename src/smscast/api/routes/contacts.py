"""Contacts, labels, blacklist and CSV import (api.md §7, scope ``contact``).

Answers where Routee's documentation leaves the shape open (docs/routee-compat.md):
- ``DELETE /contacts/my`` answers the JSON list of the ids it deleted, as Routee does; ids that do not
  exist (or belong to another account) are skipped, so they are simply absent from the answer. No body,
  ``{}`` or ``[]`` delete nothing and answer ``[]``.
- ``DELETE /contacts/my/{id}`` answers the deleted contact.
- ``HEAD /contacts/my/mobile?value=`` answers 200 or 404 with an empty body (a missing ``value`` is 400).
- Blacklist ``{service}`` is case-sensitive, one of ``Sms``, ``Voice``, ``Viber``, ``TwoStep``, ``Lookup``,
  ``NumberValidator``; anything else is 400000000. Adding or removing answers ``{"updated": n}``: how many
  contacts actually changed state. An unknown contact id there is 404002001 and nothing changes.
  ``GET`` answers a plain JSON list of the blacklisted contacts (not a page), as Routee does.
- ``POST /contacts/labels/my`` answers the labels it created, ``[{"name", "type"}]``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from starlette.concurrency import run_in_threadpool

from smscast.api.deps import ContactPrincipal, PagingParams, Services, page_body
from smscast.api.schemas_contacts import (
    ContactIn,
    LabelDefinitions,
    contact_body,
    id_list,
    import_body,
    name_list,
)

router = APIRouter(tags=["contacts"], strict_content_type=False)

LooseBody = Annotated[Any, Body()]


@router.post("/contacts/my")
def create_contact(principal: ContactPrincipal, services: Services, body: ContactIn) -> dict[str, Any]:
    return contact_body(services.contacts.create(principal.account_id, body.changes()))


@router.get("/contacts/my")
def list_contacts(principal: ContactPrincipal, services: Services, paging: PagingParams) -> dict[str, Any]:
    page = services.contacts.page(
        principal.account_id, paging.page, paging.size, paging.sort_field, paging.sort_desc
    )
    return page_body([contact_body(row) for row in page.items], page.total, page.page, page.size)


@router.delete("/contacts/my")
def delete_contacts(principal: ContactPrincipal, services: Services, body: LooseBody = None) -> list[str]:
    return services.contacts.delete_many(principal.account_id, id_list(body))


@router.head("/contacts/my/mobile")
def mobile_exists(principal: ContactPrincipal, services: Services, value: str | None = None) -> Response:
    if not value or not value.strip():
        return Response(status_code=400)
    found = services.contacts.mobile_exists(principal.account_id, value)
    return Response(status_code=200 if found else 404)


@router.post(
    "/contacts/my/import",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "mobile,firstName\n+306948530920,Nick\n",
                }
            },
        }
    },
)
async def import_contacts(
    request: Request, principal: ContactPrincipal, services: Services, group: str | None = None
) -> dict[str, Any]:
    """Bulk import (smscast): CSV with a header row (``mobile`` and label names); see
    ``services.contact_import``. Answers ``{"created", "updated", "failed": [{"line", "reason"}]}``."""
    data = await request.body()
    result = await run_in_threadpool(services.contacts.import_csv, principal.account_id, data, group)
    return import_body(result)


@router.get("/contacts/my/blacklist/{service}")
def blacklisted(principal: ContactPrincipal, services: Services, service: str) -> list[dict[str, Any]]:
    return [contact_body(row) for row in services.contacts.blacklisted(principal.account_id, service)]


@router.post("/contacts/my/blacklist/{service}")
def blacklist_add(
    principal: ContactPrincipal, services: Services, service: str, body: LooseBody = None
) -> dict[str, int]:
    return {"updated": services.contacts.blacklist_add(principal.account_id, service, id_list(body))}


@router.delete("/contacts/my/blacklist/{service}")
def blacklist_remove(
    principal: ContactPrincipal, services: Services, service: str, body: LooseBody = None
) -> dict[str, int]:
    return {"updated": services.contacts.blacklist_remove(principal.account_id, service, id_list(body))}


@router.delete("/contacts/my/blacklist/{service}/groups")
def blacklist_remove_groups(
    principal: ContactPrincipal, services: Services, service: str, body: LooseBody = None
) -> dict[str, int]:
    updated = services.contacts.blacklist_remove_groups(principal.account_id, service, name_list(body))
    return {"updated": updated}


@router.get("/contacts/my/{contact_id}")
def get_contact(principal: ContactPrincipal, services: Services, contact_id: str) -> dict[str, Any]:
    return contact_body(services.contacts.get(principal.account_id, contact_id))


@router.put("/contacts/my/{contact_id}")
def update_contact(
    principal: ContactPrincipal, services: Services, contact_id: str, body: ContactIn
) -> dict[str, Any]:
    return contact_body(services.contacts.update(principal.account_id, contact_id, body.changes()))


@router.delete("/contacts/my/{contact_id}")
def delete_contact(principal: ContactPrincipal, services: Services, contact_id: str) -> dict[str, Any]:
    return contact_body(services.contacts.delete(principal.account_id, contact_id))


@router.get("/contacts/labels/my")
def labels(principal: ContactPrincipal, services: Services) -> dict[str, str]:
    return services.contacts.labels(principal.account_id)


@router.post("/contacts/labels/my")
def create_labels(
    principal: ContactPrincipal, services: Services, body: Annotated[LabelDefinitions, Body()]
) -> list[dict[str, str]]:
    created = services.contacts.create_labels(
        principal.account_id, [(label.name, label.type) for label in body]
    )
    return [{"name": name, "type": kind} for name, kind in created]
