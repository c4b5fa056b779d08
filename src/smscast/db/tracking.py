"""Tracking reads (api.md §5): message parts with their campaign and application names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from smscast.db.messages import part_body_joined
from smscast.db.schema import applications, campaigns, messages

SEARCHABLE = {
    "smsId": messages.c.sms_id,
    "messageId": messages.c.message_id,
    "to": messages.c.to,
    "from": messages.c.sender,
    "country": messages.c.country,
    "status": messages.c.status,
    "label": messages.c.label,
    "campaignName": campaigns.c.name,
}
SORTABLE = {
    "createdAt": messages.c.created_at,
    "date": messages.c.status_date,
    "to": messages.c.to,
    "status": messages.c.status,
    "part": messages.c.part,
    "price": messages.c.price,
}


@dataclass(frozen=True, slots=True)
class TrackedPart:
    sms_id: str
    message_id: str
    campaign_id: str | None
    campaign_name: str | None
    to: str
    sender: str
    country: str
    groups: str | None
    body: str
    label: str | None
    application_name: str
    part: int
    parts: int
    price: Decimal | None
    status: str
    detailed_status: str | None
    status_date: datetime
    submitted_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


_COLUMNS = (
    messages.c.sms_id,
    messages.c.message_id,
    messages.c.campaign_id,
    campaigns.c.name,
    messages.c.to,
    messages.c.sender,
    messages.c.country,
    messages.c.groups,
    part_body_joined(),
    messages.c.label,
    applications.c.name,
    messages.c.part,
    messages.c.parts,
    messages.c.price,
    messages.c.status,
    messages.c.detailed_status,
    messages.c.status_date,
    messages.c.submitted_at,
    messages.c.delivered_at,
    messages.c.created_at,
)
_FROM = messages.outerjoin(campaigns, campaigns.c.tracking_id == messages.c.campaign_id).join(
    applications, applications.c.id == messages.c.application_id
)


@dataclass(frozen=True, slots=True)
class TrackingQuery:
    account_id: str
    message_id: str | None = None
    campaign_id: str | None = None
    statuses: tuple[str, ...] = ()
    terms: tuple[tuple[str, str], ...] = ()
    date_start: datetime | None = None
    date_end: datetime | None = None
    sort: str | None = None
    descending: bool = False


class TrackingRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def page(self, query: TrackingQuery, offset: int, limit: int) -> tuple[list[TrackedPart], int]:
        where: list[sa.ColumnElement[bool]] = [messages.c.account_id == query.account_id]
        if query.message_id is not None:
            where.append(messages.c.message_id == query.message_id)
        if query.campaign_id is not None:
            where.append(messages.c.campaign_id == query.campaign_id)
        if query.statuses:
            where.append(messages.c.status.in_(query.statuses))
        for field, term in query.terms:
            where.append(SEARCHABLE[field] == term)
        if query.date_start is not None:
            where.append(messages.c.created_at >= query.date_start)
        if query.date_end is not None:
            where.append(messages.c.created_at <= query.date_end)
        total = self.conn.execute(sa.select(sa.func.count()).select_from(_FROM).where(*where)).scalar_one()
        order = SORTABLE.get(query.sort or "", messages.c.created_at)
        ordering = [order.desc() if query.descending else order.asc(), messages.c.message_id, messages.c.part]
        rows = self.conn.execute(
            sa.select(*_COLUMNS)
            .select_from(_FROM)
            .where(*where)
            .order_by(*ordering)
            .offset(offset)
            .limit(limit)
        ).all()
        return [TrackedPart(*cast(tuple[Any, ...], row)) for row in rows], int(total)
