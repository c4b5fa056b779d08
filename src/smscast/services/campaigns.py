"""Campaign use cases: analyse, create, update a scheduled campaign (the seed), cancel, read, list.

Validation follows api.md §1.1's order: field rules (400000000) → sender (400005000) → recipients exist
(404002001, 404002003) → recipients left (400005000 / 400009004) → name unique (409009003) → balance
(400001009). For update and cancel the campaign lookup (404009001) and state (400009002) come first, and
the change itself is one compare-and-set on ``state``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from smscast.db.accounts import AccountRepository
from smscast.db.campaigns import (
    CampaignEngineRepository,
    CampaignRepository,
    CampaignRow,
    CampaignWrite,
    ProgressPoint,
)
from smscast.db.database import Database
from smscast.db.groups import GroupRepository
from smscast.db.recipients import RecipientRepository
from smscast.domain.analysis import CampaignAnalysis
from smscast.domain.auth import Principal
from smscast.domain.campaigns import (
    SETTLED_STATES,
    CampaignDefinition,
    CampaignState,
    check_callback_url,
    check_definition,
)
from smscast.domain.clock import Clock
from smscast.domain.errors import (
    CampaignNameExists,
    CampaignNotFound,
    CampaignNotScheduled,
    ContactNotFound,
    GroupNotFound,
    InsufficientBalance,
    InvalidSenderOrRecipients,
    NoRecipientsLeft,
)
from smscast.domain.numbers import validate_regions
from smscast.domain.personalisation import compile_template
from smscast.domain.sender import validate_sender
from smscast.services.callbacks import CallbackPlanner
from smscast.services.paging import Page
from smscast.services.prices import PriceService

BLACKLIST_SERVICE = "Sms"
MESSAGE_STATUSES = ("Queued", "Sent", "Unsent", "Failed", "Delivered", "Undelivered")


@dataclass(frozen=True, slots=True)
class CampaignView:
    """What the API shows of a campaign."""

    row: CampaignRow
    definition: CampaignDefinition
    analysis: dict[str, Any]
    statuses: dict[str, int]
    # Country → parts held back by quiet hours; on the details page only (GET /campaigns/{id}).
    quiet_hours_report: dict[str, int] | None = None


@dataclass(frozen=True, slots=True)
class _Prepared:
    definition: CampaignDefinition
    analysis: CampaignAnalysis
    state: CampaignState
    scheduled_date: datetime | None


class CampaignService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        prices: PriceService,
        *,
        allow_private_callbacks: bool = False,
        callbacks: CallbackPlanner | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.prices = prices
        self.allow_private_callbacks = allow_private_callbacks
        self.callbacks = callbacks or CallbackPlanner()
        # host:port forms of this server's own address; callbacks there are refused (set by ``serve``).
        self.own_hosts: frozenset[str] = frozenset()
        # Called once a campaign to send now is committed: wakes this process's scheduler (engine/nudge.py).
        self.on_queued: Callable[[], None] = lambda: None

    # --- use cases -------------------------------------------------------------------------------------

    def analyse(self, principal: Principal, definition: CampaignDefinition) -> dict[str, Any]:
        """The analysis of a campaign body and its recipients, without creating anything."""
        with self.db.read() as conn:
            prepared = self._prepare(conn, principal, definition, exclude=None, check_name=False)
        return prepared.analysis.to_json(definition.body)

    def create(self, principal: Principal, definition: CampaignDefinition) -> CampaignView:
        tracking_id = str(uuid.uuid4())
        # Validate and price in a read transaction so the (single, on SQLite) writer is held only for the
        # insert; the unique index settles a name race that slips between the two.
        with self.db.read() as conn:
            prepared = self._prepare(conn, principal, definition, exclude=None, check_name=True)
        write, stored = self._write(prepared)
        with self.db.write() as conn:
            repo = CampaignRepository(conn)
            try:
                with conn.begin_nested():
                    row = repo.insert(
                        tracking_id, principal.account_id, principal.application_id, write, self.clock.now()
                    )
            except sa.exc.IntegrityError:
                raise CampaignNameExists() from None
        if row.state is CampaignState.QUEUED:
            self.on_queued()
        return self._view(row, {}, stored)

    def update_scheduled(
        self, principal: Principal, tracking_id: str, definition: CampaignDefinition
    ) -> CampaignView:
        """Replace a ``Scheduled`` campaign's whole definition (no ``scheduledDate`` → send now).

        The final write is a compare-and-set on ``state``: if the scheduler started the campaign after the
        checks, the update loses entirely (400009002) and the old definition is what is sent.
        """
        with self.db.read() as conn:
            current = CampaignRepository(conn).get(principal.account_id, tracking_id)
            if current is None:
                raise CampaignNotFound()
            if current.state is not CampaignState.SCHEDULED:
                raise CampaignNotScheduled()
            prepared = self._prepare(conn, principal, definition, exclude=tracking_id, check_name=True)
        write, stored = self._write(prepared)
        with self.db.write() as conn:
            try:
                with conn.begin_nested():
                    row = CampaignRepository(conn).update_scheduled(
                        principal.account_id, tracking_id, write, self.clock.now()
                    )
            except sa.exc.IntegrityError:
                raise CampaignNameExists() from None
        if row is None:
            raise CampaignNotScheduled()
        if row.state is CampaignState.QUEUED:
            self.on_queued()
        return self._view(row, {}, stored)

    def cancel(self, principal: Principal, tracking_id: str) -> CampaignView:
        with self.db.write() as conn:
            repo = CampaignRepository(conn)
            current = repo.get(principal.account_id, tracking_id)
            if current is None:
                raise CampaignNotFound()
            now = self.clock.now()
            row = repo.cancel(principal.account_id, tracking_id, now)
            if row is None:
                raise CampaignNotScheduled()
            self.callbacks.campaign_changed(conn, tracking_id, now, state_changed=True)
        return self._view(row, {})

    def get(self, principal: Principal, tracking_id: str) -> CampaignView:
        with self.db.read() as conn:
            repo = CampaignRepository(conn)
            row = repo.get(principal.account_id, tracking_id)
            if row is None:
                raise CampaignNotFound()
            counts = repo.status_counts([tracking_id])[tracking_id]
            held = CampaignEngineRepository(conn).held_per_country(tracking_id)
        return replace(self._view(row, counts), quiet_hours_report=held)

    def page(
        self, principal: Principal, page: int, size: int, state: str | None, name: str | None
    ) -> Page[CampaignView]:
        with self.db.read() as conn:
            repo = CampaignRepository(conn)
            rows, total = repo.page(principal.account_id, state, name, page * size, size)
            counts = repo.status_counts([r.tracking_id for r in rows])
        return Page([self._view(r, counts[r.tracking_id]) for r in rows], total, page, size)

    def quiet_hours_report(self, principal: Principal, tracking_id: str) -> dict[str, int]:
        """Country → number of the campaign's parts held back by quiet hours (404009001 if unknown)."""
        with self.db.read() as conn:
            if CampaignRepository(conn).get(principal.account_id, tracking_id) is None:
                raise CampaignNotFound()
            return CampaignEngineRepository(conn).held_per_country(tracking_id)

    def progress_timeline(
        self, principal: Principal, tracking_id: str, points: int = 24
    ) -> list[ProgressPoint]:
        """The campaign's parts by status at ``points`` evenly spaced moments, from its first part's creation
        to its last status change (to now while it is still going). Empty before it has parts."""
        with self.db.read() as conn:
            repo = CampaignRepository(conn)
            row = repo.get(principal.account_id, tracking_id)
            if row is None:
                raise CampaignNotFound()
            start, last = repo.progress_span(tracking_id)
            if start is None or last is None:
                return []
            end = last if row.state in SETTLED_STATES else max(last, self.clock.now())
            return repo.progress_at(tracking_id, start, max(end, start + timedelta(seconds=1)), points)

    # --- internals -------------------------------------------------------------------------------------

    def _prepare(
        self,
        conn: Connection,
        principal: Principal,
        definition: CampaignDefinition,
        *,
        exclude: str | None,
        check_name: bool,
    ) -> _Prepared:
        check_definition(definition)
        to = list(definition.to)
        regions = validate_regions(to, "to")
        if definition.reminder is not None:
            validate_regions(list(definition.reminder.to), "reminder.to")
        for field, callback in (
            ("callback", definition.callback),
            ("campaignCallback", definition.campaign_callback),
        ):
            if callback is not None:
                check_callback_url(
                    callback.url,
                    f"{field}.url",
                    allow_private=self.allow_private_callbacks,
                    own_hosts=self.own_hosts,
                )
        validate_sender(definition.sender)

        accounts = AccountRepository(conn)
        account = accounts.get(principal.account_id)
        assert account is not None, "an authenticated principal has an account"
        transcode = definition.transcode if definition.transcode is not None else account.enforce_transcoding
        analysis = CampaignAnalysis(
            template=compile_template(definition.body),
            fallback=definition.fallback_values,
            prices=self.prices.price_list(conn),
            transcode_enabled=transcode,
        )
        self._resolve(conn, principal.account_id, definition, to, regions, analysis)

        name = definition.name
        if (
            check_name
            and name is not None
            and CampaignRepository(conn).name_taken(principal.account_id, name, exclude)
        ):
            raise CampaignNameExists()
        if analysis.cost > account.balance:
            raise InsufficientBalance()

        now = self.clock.now()
        scheduled = definition.scheduled_date
        if scheduled is not None and scheduled > now:
            state = CampaignState.SCHEDULED
        else:
            state, scheduled = CampaignState.QUEUED, None if scheduled is None else now
        return _Prepared(definition, analysis, state, scheduled)

    def _resolve(
        self,
        conn: Connection,
        account_id: str,
        definition: CampaignDefinition,
        to: list[str],
        regions: list[str],
        analysis: CampaignAnalysis,
    ) -> None:
        contacts_repo = RecipientRepository(conn)
        groups_repo = GroupRepository(conn)
        contacts = contacts_repo.by_ids(account_id, list(dict.fromkeys(definition.contacts)))
        found = {c.id for c in contacts}
        for contact_id in definition.contacts:
            if contact_id not in found:
                raise ContactNotFound(f"Contact {contact_id} does not exist", {"contacts": contact_id})
        group_names = [str(name) for name in dict.fromkeys(definition.groups)]
        group_ids = groups_repo.find_by_names(account_id, group_names)
        for name in group_names:
            if name not in group_ids:
                raise GroupNotFound(f"Group {name} does not exist", {"groups": name})
        if not definition.has_recipients:
            raise InvalidSenderOrRecipients(
                "No recipients were specified: give to, contacts or groups", {"to": "no recipients"}
            )

        known = contacts_repo.by_mobiles(account_id, to)  # de-duplicates
        analysis.recipient_countries.update(zip(to, regions, strict=True))
        if not known:
            analysis.add_numbers(to, regions)  # no number is a contact's: no labels, none blacklisted
        else:
            add = analysis.add
            for number, region in zip(to, regions, strict=True):
                contact = known.get(number)
                if contact is None:
                    add(number, region, None, False)
                else:
                    add(number, region, contact.labels, BLACKLIST_SERVICE in contact.blacklisted_services)
        for contact in contacts:
            blacklisted = BLACKLIST_SERVICE in contact.blacklisted_services
            analysis.contacts[contact.id] = {
                "recipient": contact.mobile,
                "recipientCountry": contact.country or "",
                "blacklisted": blacklisted,
            }
            analysis.add(contact.mobile, contact.country or "", contact.labels, blacklisted)
        for name in group_names:
            size = 0
            for batch in groups_repo.iter_members(account_id, [group_ids[name]]):
                for contact in batch:
                    size += 1
                    analysis.add(
                        contact.mobile,
                        contact.country or "",
                        contact.labels,
                        BLACKLIST_SERVICE in contact.blacklisted_services,
                    )
            analysis.per_group[name] = size
        if analysis.recipients == 0:
            raise NoRecipientsLeft()

    @staticmethod
    def _write(prepared: _Prepared) -> tuple[CampaignWrite, tuple[dict[str, Any], dict[str, Any]]]:
        """The columns to write, and the stored definition and analysis they encode (``_view`` shows them
        without reading the JSON just made: with 30,000 numbers it is ~1 MB)."""
        definition = prepared.definition
        stored = definition.to_json()
        if prepared.scheduled_date is None:
            stored.pop("scheduledDate", None)
        analysis = prepared.analysis.to_json(definition.body)
        reminder_due: tuple[datetime | None, datetime | None] = (None, None)
        if definition.reminder is not None and prepared.scheduled_date is not None:
            reminder_due = definition.reminder.moments(prepared.scheduled_date)
        write = CampaignWrite(
            name=definition.name,
            state=prepared.state,
            scheduled_date=prepared.scheduled_date,
            # orjson: ~5 times the standard encoder's speed at 20,000 numbers, the GIL held that much less.
            definition=orjson.dumps(stored).decode(),
            analysis=orjson.dumps(analysis).decode(),
            total_messages=prepared.analysis.total_messages,
            cost=prepared.analysis.cost,
            reminder_before_due=reminder_due[0],
            reminder_after_due=reminder_due[1],
        )
        return write, (stored, analysis)

    @staticmethod
    def _view(
        row: CampaignRow, counts: dict[str, int], stored: tuple[dict[str, Any], dict[str, Any]] | None = None
    ) -> CampaignView:
        """The view of ``row``; ``stored``: its definition and analysis as written (else read from it)."""
        statuses = {status: counts.get(status, 0) for status in MESSAGE_STATUSES}
        definition, analysis = stored or (orjson.loads(row.definition), orjson.loads(row.analysis))
        return CampaignView(row, CampaignDefinition.from_json(definition), analysis, statuses)
