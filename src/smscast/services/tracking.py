"""Tracking (api.md §5): every part of a message, of a campaign, or matching a search."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from smscast.db.campaigns import CampaignRepository
from smscast.db.database import Database
from smscast.db.tracking import SEARCHABLE, SORTABLE, TrackedPart, TrackingQuery, TrackingRepository
from smscast.domain.auth import Principal
from smscast.domain.errors import CampaignNotFound, TrackingNotFound, validation_error
from smscast.domain.statuses import MessageStatus
from smscast.services.paging import Page

STATUS_VALUES = frozenset(s.value for s in MessageStatus)


def _status_filter(status: str) -> tuple[str, ...]:
    """The statuses a ``status`` filter selects: itself (every status is stored as clients see it)."""
    if status not in STATUS_VALUES:
        raise validation_error("status", f"one of {', '.join(sorted(STATUS_VALUES))}")
    return (status,)


class TrackingService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def message(self, principal: Principal, message_id: str) -> list[TrackedPart]:
        with self.db.read() as conn:
            parts, _ = TrackingRepository(conn).page(
                TrackingQuery(principal.account_id, message_id=message_id, sort="part"), 0, 1000
            )
        if not parts:
            raise TrackingNotFound()
        return parts

    def campaign(
        self,
        principal: Principal,
        tracking_id: str,
        page: int,
        size: int,
        status: str | None,
        sort: str | None,
        descending: bool,
    ) -> Page[TrackedPart]:
        self._check_sort(sort)
        with self.db.read() as conn:
            if CampaignRepository(conn).get(principal.account_id, tracking_id) is None:
                raise CampaignNotFound()
            query = TrackingQuery(
                principal.account_id,
                campaign_id=tracking_id,
                statuses=_status_filter(status) if status else (),
                sort=sort,
                descending=descending,
            )
            items, total = TrackingRepository(conn).page(query, page * size, size)
        return Page(items, total, page, size)

    def search(
        self,
        principal: Principal,
        terms: Sequence[tuple[str, str]],
        *,
        date_start: datetime | None,
        date_end: datetime | None,
        tracking_id: str | None,
        page: int,
        size: int,
        sort: str | None,
        descending: bool,
    ) -> Page[TrackedPart]:
        self._check_sort(sort)
        statuses: tuple[str, ...] = ()
        plain: list[tuple[str, str]] = []
        for field, term in terms:
            if field not in SEARCHABLE:
                raise validation_error("fieldName", f"one of {', '.join(SEARCHABLE)}")
            if field == "status":
                statuses = _status_filter(term)
            else:
                plain.append((field, term))
        query = TrackingQuery(
            principal.account_id,
            campaign_id=tracking_id,
            statuses=statuses,
            terms=tuple(plain),
            date_start=date_start,
            date_end=date_end,
            sort=sort,
            descending=descending,
        )
        with self.db.read() as conn:
            items, total = TrackingRepository(conn).page(query, page * size, size)
        return Page(items, total, page, size)

    @staticmethod
    def _check_sort(sort: str | None) -> None:
        if sort is not None and sort not in SORTABLE:
            raise validation_error("sort", f"one of {', '.join(SORTABLE)}")
