"""Groups of contacts (api.md §7, scope ``contact``).

Answers where Routee's documentation leaves the shape open (docs/routee-compat.md):
- ``GET /groups/my`` lists ``{name, size}`` for every group, the virtual ``All`` and ``NotListed`` first,
  then the account's groups by name; ``GET /groups/my/page`` pages the same list.
- ``DELETE /groups/my?deleteContacts=false`` answers ``[{"name", "deletedContacts"}]`` per group, as
  Routee does. No body or ``{}`` deletes nothing and answers ``[]``.
- Group names in paths are percent-decoded and may contain ``/``; a group named ``page`` cannot be read
  with ``GET /groups/my/page`` (that path is the page of groups), as in Routee.
- Adding or removing members answers ``{name, size}`` with the new size; an unknown contact id is 404002001
  and nothing changes; removing a contact that is not a member is not an error.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from smscast.api.deps import ContactPrincipal, PagingParams, Services, page_body
from smscast.api.schemas_contacts import GroupIn, GroupSetIn, contact_body, group_body, id_list, name_list

router = APIRouter(tags=["groups"], strict_content_type=False)

LooseBody = Annotated[Any, Body()]


@router.get("/groups/my")
def list_groups(principal: ContactPrincipal, services: Services) -> list[dict[str, Any]]:
    return [group_body(group) for group in services.groups.list_all(principal.account_id)]


@router.get("/groups/my/page")
def page_groups(principal: ContactPrincipal, services: Services, paging: PagingParams) -> dict[str, Any]:
    page = services.groups.page(
        principal.account_id, paging.page, paging.size, paging.sort_field, paging.sort_desc
    )
    return page_body([group_body(group) for group in page.items], page.total, page.page, page.size)


@router.post("/groups/my")
def create_group(principal: ContactPrincipal, services: Services, body: GroupIn) -> dict[str, Any]:
    group = services.groups.create(principal.account_id, body.name, body.strategy, body.filter_inputs())
    return group_body(group)


@router.delete("/groups/my")
def delete_groups(
    principal: ContactPrincipal,
    services: Services,
    body: LooseBody = None,
    delete_contacts: Annotated[bool, Query(alias="deleteContacts")] = False,
) -> list[dict[str, Any]]:
    deleted = services.groups.delete(principal.account_id, name_list(body), delete_contacts)
    return [{"name": name, "deletedContacts": contacts} for name, contacts in deleted]


@router.post("/groups/my/merge")
def merge_groups(principal: ContactPrincipal, services: Services, body: GroupSetIn) -> dict[str, Any]:
    return group_body(services.groups.merge(principal.account_id, body.name, body.groups))


@router.post("/groups/my/difference")
def difference_of_groups(principal: ContactPrincipal, services: Services, body: GroupSetIn) -> dict[str, Any]:
    return group_body(services.groups.difference(principal.account_id, body.name, body.groups))


@router.get("/groups/my/{name:path}/contacts")
def group_contacts(
    principal: ContactPrincipal, services: Services, name: str, paging: PagingParams
) -> dict[str, Any]:
    page = services.groups.contacts(
        principal.account_id, name, paging.page, paging.size, paging.sort_field, paging.sort_desc
    )
    return page_body([contact_body(row) for row in page.items], page.total, page.page, page.size)


@router.post("/groups/my/{name:path}/contacts")
def add_group_contacts(
    principal: ContactPrincipal, services: Services, name: str, body: LooseBody = None
) -> dict[str, Any]:
    return group_body(services.groups.add_contacts(principal.account_id, name, id_list(body)))


@router.delete("/groups/my/{name:path}/contacts")
def remove_group_contacts(
    principal: ContactPrincipal, services: Services, name: str, body: LooseBody = None
) -> dict[str, Any]:
    return group_body(services.groups.remove_contacts(principal.account_id, name, id_list(body)))


@router.get("/groups/my/{name:path}")
def get_group(principal: ContactPrincipal, services: Services, name: str) -> dict[str, Any]:
    return group_body(services.groups.get(principal.account_id, name))
