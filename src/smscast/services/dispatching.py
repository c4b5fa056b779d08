"""Handing parts to the carrier: claim (with a lease), expire, hold for quiet hours, charge, record results,
apply receipts. Each step is one short transaction; no transaction is held open across network I/O.

Money: a part is charged (its ``price`` set and a ``Charge`` ledger row written, in one transaction) when
it is claimed for sending, and refunded if the carrier refuses it; a part whose price is already set is never
charged again (a re-claim after a crash or a transient failure). If the balance cannot cover a part it ends
``Unsent``; if its country has no price (nor ``ZZ``) it waits for one, ``Queued`` and uncharged.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from sqlalchemy.engine import Connection

from smscast.carriers.base import DeliveryReport, OutboundPart, SubmitResult
from smscast.db.accounts import AccountRepository
from smscast.db.database import Database
from smscast.db.dispatch import ClaimedPart, DispatchRepository
from smscast.db.expansion import release_kept
from smscast.db.receipts import Receipt, ReceiptRepository
from smscast.domain.clock import Clock
from smscast.domain.numbers import zones_of
from smscast.domain.pricing import PriceList
from smscast.domain.quiet_hours import NeverAllowed, Window, next_allowed
from smscast.domain.segmentation import encode_parts
from smscast.domain.statuses import FINAL_VALUES, MessageStatus, receipt_change
from smscast.services.callbacks import CallbackPlanner
from smscast.services.kept_parts import KEPT_LIMIT, KeptParts, Leased
from smscast.services.prices import PriceService

log = logging.getLogger("smscast.dispatch")

MAX_ATTEMPTS = 5
_SENT = MessageStatus.SENT.value
RETRY_PAUSE = timedelta(seconds=5)
# A part whose country has no price is tried again after this (the operator may load a table with it).
UNPRICED_PAUSE = timedelta(minutes=1)


BODIES_KEPT = 1000  # campaign texts a dispatcher keeps between claims
MIN_SHARE = 50  # the fewest kept parts a dispatcher takes when it shares the last ones (`claim`)


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    lease: timedelta = timedelta(seconds=120)
    price_refresh: timedelta = timedelta(seconds=30)
    # A part handed over this long ago without a receipt ends Undelivered / Unknown Status.
    receipt_timeout: timedelta = timedelta(hours=72)
    # A receipt whose part is unknown this long is dropped (a receipt normally matches within seconds).
    receipt_retention: timedelta = timedelta(days=1)
    # At most this many parts written kept by this process's expansion wait for its dispatchers.
    kept_parts: int = KEPT_LIMIT


class DispatchService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        prices: PriceService,
        quiet_windows: Sequence[Window],
        settings: DispatchSettings | None = None,
        callbacks: CallbackPlanner | None = None,
    ) -> None:
        self.db = db
        self.callbacks = callbacks or CallbackPlanner()
        self.clock = clock
        self.prices = prices
        self.quiet_windows = tuple(quiet_windows)
        self.settings = settings or DispatchSettings()
        self._price_list: PriceList | None = None
        self._price_list_at: datetime | None = None
        # Started campaigns' texts, for the parts that store none (`DispatchRepository.claim`).
        self._bodies: dict[str, str] = {}
        # Parts this process's expansion wrote leased to it and charged (services/kept_parts.py).
        self.kept = KeptParts(self.settings.kept_parts)

    @property
    def lease(self) -> timedelta:
        return self.settings.lease

    def part_prices(self, now: datetime) -> PriceList:
        return self._prices(now)

    def claim(self, limit: int, share: int = 1) -> list[ClaimedPart]:
        """Lease up to ``limit`` due parts; expire, hold or charge them; return those to submit now. Parts
        kept by this process's expansion come first: they are leased and charged already. ``share``: how
        many dispatchers take turns; when fewer than ``share × limit`` kept parts are left, each takes its
        share of them, so that their last batches end together rather than one after the other."""
        now = self.clock.now()
        left, wanted = len(self.kept), limit
        if 0 < left < share * limit:
            wanted = max(MIN_SHARE, -(-left // share))
        kept, stale = self.kept.take(wanted, now + self.settings.lease / 2)
        # Not taken within half their lease (a slow carrier): anyone's to claim now.
        self._release(stale)
        if kept:
            return kept
        prices = self._prices(now)
        with self.db.write() as conn:
            repo = DispatchRepository(conn)
            if len(self._bodies) > BODIES_KEPT:
                self._bodies.clear()
            claimed = repo.claim(now, now + self.settings.lease, limit, prices.per_part, self._bodies)
            if not claimed:
                return []
            expired: list[tuple[str, str, str]] = []
            held: list[tuple[str, datetime]] = []
            ready: list[ClaimedPart] = []
            for part in claimed:
                if part.expires_at is not None and part.expires_at <= now:
                    expired.append((part.sms_id, MessageStatus.UNDELIVERED.value, "Expired"))
                    continue
                if part.quiet_hours:
                    allowed = self._allowed_from(now, part.to)
                    if allowed > now:
                        held.append((part.sms_id, allowed))
                        continue
                ready.append(part)
            # A price the claim quoted is taken back from the parts not sent now.
            quoted = {part.sms_id for part in claimed if part.quoted is not None}
            repo.finish(expired, now, quoted)
            repo.hold(held, quoted)
            send, unsent, unpriced = self._charge(repo, ready, now)
            repo.finish([(p.sms_id, MessageStatus.UNSENT.value, "Failed") for p in unsent], now, quoted)
            repo.requeue([p.sms_id for p in unpriced], now + UNPRICED_PAUSE)
            ended = {sms_id for sms_id, _, _ in expired} | {p.sms_id for p in unsent}
            self.callbacks.parts_changed(
                conn, [p.sms_id for p in claimed if p.has_callback and p.sms_id in ended], now
            )
            return send

    def release_kept(self) -> None:
        """The process stops: the kept parts it did not take are anyone's to claim at once."""
        self._release(self.kept.drain())

    def _release(self, leased: list[Leased]) -> None:
        if leased:
            with self.db.write() as conn:
                for lease_until, sms_ids in leased:
                    release_kept(conn, sms_ids, lease_until, unprice=False)

    def _charge(
        self,
        repo: DispatchRepository,
        parts: list[ClaimedPart],
        now: datetime,
    ) -> tuple[list[ClaimedPart], list[ClaimedPart], list[ClaimedPart]]:
        """Charge ``parts`` at the prices their claim quoted: ``(send, unsent, unpriced)``. ``unsent``: the
        balance could not pay for them. ``unpriced``: their country has no price (a table loaded since the
        part was accepted has neither it nor ``ZZ``): not charged, not sent, and not ended either (the
        operator may load a table with their price); they wait, without holding up the parts behind them."""
        accounts = AccountRepository(repo.conn)
        by_account: dict[str, list[ClaimedPart]] = defaultdict(list)
        send: list[ClaimedPart] = []
        for part in parts:
            if part.price is None:
                by_account[part.account_id].append(part)
            else:
                send.append(part)  # charged on an earlier claim
        unsent: list[ClaimedPart] = []
        unpriced: list[ClaimedPart] = []
        for account_id, items in by_account.items():
            quotes = [part.quoted for part in items]  # the claim priced them from ``prices``
            # ``is``, not ``None in quotes``: comparing a Decimal with None asks numbers.Rational (an ABC)
            # each time, 90 µs per 500 parts.
            if all(quote is not None for quote in quotes):
                # The common case, one conditional debit: the balance covers the whole batch.
                total = sum(filter(None, quotes), Decimal(0))
                references = {part.campaign_id or part.message_id for part in items}
                reference = next(iter(references)) if len(references) == 1 else None
                if total == 0 or accounts.charge_if_covered(account_id, total, now, reference) is not None:
                    for part, price in zip(items, quotes, strict=True):
                        part.price = price  # what a refusal refunds
                    send.extend(items)
                    continue
            # Part by part, in order, until the balance runs out.
            account = accounts.get(account_id, for_update=True)
            balance = account.balance if account is not None else Decimal(0)
            total = Decimal(0)
            references = set()
            for part in items:
                price = part.quoted
                if price is None:
                    unpriced.append(part)
                    continue
                if total + price > balance:
                    unsent.append(part)
                    continue
                total += price
                part.price = price
                references.add(part.campaign_id or part.message_id)
                send.append(part)
            if total > 0:
                reference = next(iter(references)) if len(references) == 1 else None
                accounts.add_transaction(account_id, "Charge", -total, now, reference, balance)
        if unpriced:
            log.warning(
                "%d parts wait: no price for %s (nor a ZZ price) in the price table",
                len(unpriced),
                ", ".join(sorted({part.country or "?" for part in unpriced})),
            )
        return send, unsent, unpriced

    def record(
        self,
        results: Sequence[tuple[ClaimedPart, SubmitResult]],
        receipts: Sequence[DeliveryReport] = (),
        recorded: Mapping[str, tuple[str, bool]] | None = None,
    ) -> None:
        """Write what the carrier answered: ``Sent`` with its id, a refund and ``Failed`` for a refusal,
        back to the queue for a transient failure (``Failed`` after ``MAX_ATTEMPTS``). ``receipts`` that
        arrived for these very parts before this write are applied in the same transaction (the SMSC
        reports at once: that spares them the inbox), and so are those for parts an earlier write of the
        caller recorded ``Sent``: ``recorded`` maps their carrier ids to ``(sms_id, has_callback)``."""
        now = self.clock.now()
        # A part without a callback whose one receipt is already here goes to the receipt's status in the
        # same row update (with a callback it goes through Sent: OnChange reports both).
        receipt_of: dict[str, DeliveryReport | None] = {}
        for report in receipts:
            receipt_of[report.carrier_id] = None if report.carrier_id in receipt_of else report
        sent: list[tuple[str, str, str, str, bool]] = []
        folded: set[str] = set()
        failed: list[ClaimedPart] = []
        retry: list[str] = []
        for part, result in results:
            carrier_id = result.carrier_id
            if carrier_id is not None:
                known = None if part.has_callback else receipt_of.get(carrier_id)
                if known is None:
                    sent.append((part.sms_id, carrier_id, _SENT, _SENT, False))
                else:
                    status, detailed = receipt_change(known.stat)
                    sent.append((part.sms_id, carrier_id, status, detailed, True))
                    folded.add(carrier_id)
            elif result.retry and part.attempts < MAX_ATTEMPTS:
                retry.append(part.sms_id)
            else:
                failed.append(part)
        with self.db.write() as conn:
            repo = DispatchRepository(conn)
            repo.record_sent(sent, now)
            repo.requeue(retry, now + RETRY_PAUSE)
            repo.finish([(p.sms_id, MessageStatus.FAILED.value, "Failed") for p in failed], now)
            refunds: dict[str, Decimal] = defaultdict(Decimal)
            for part in failed:
                if part.price:
                    refunds[part.account_id] += part.price
            accounts = AccountRepository(conn)
            for account_id, amount in refunds.items():
                accounts.add_transaction(account_id, "Refund", amount, now)
            changed = {item[0] for item in sent} | {p.sms_id for p in failed}
            self.callbacks.parts_changed(
                conn, [p.sms_id for p, _ in results if p.has_callback and p.sms_id in changed], now
            )
            rest = [report for report in receipts if report.carrier_id not in folded]
            if rest:  # parts with a callback, or several receipts for one part: as any receipt, from Sent
                just_sent = {
                    result.carrier_id: (part.sms_id, _SENT, part.has_callback)
                    for part, result in results
                    if result.carrier_id is not None
                }
                for report in rest:  # parts an earlier write recorded Sent
                    earlier = recorded.get(report.carrier_id) if recorded else None
                    if earlier is not None and report.carrier_id not in just_sent:
                        just_sent[report.carrier_id] = (earlier[0], _SENT, earlier[1])
                self._apply_known(conn, just_sent, rest, now)
            if sent and not ReceiptRepository(conn).inbox_is_empty():
                # Receipts that overtook this write (the SMSC answers, then reports at once): apply now
                # rather than at the next maintenance pass.
                self._apply_inbox(conn, repo, 5000)

    def store_receipts(self, reports: Sequence[DeliveryReport]) -> None:
        """Persist receipts (before the SMSC is answered): in one transaction, those whose part is known are
        applied to it, the others wait in the inbox for the part's submit result (``record`` applies them)."""
        now = self.clock.now()
        with self.db.write() as conn:
            parts = ReceiptRepository(conn).parts_by_carrier_ids([r.carrier_id for r in reports])
            waiting = self._apply_known(conn, parts, reports, now)
        if waiting:
            # A part's submit result may have been committed meanwhile by a concurrent writer (PostgreSQL).
            self.apply_receipts()

    def _apply_known(
        self,
        conn: Connection,
        parts: Mapping[str, tuple[str, str, bool]],
        reports: Sequence[DeliveryReport],
        now: datetime,
    ) -> bool:
        """Apply the ``reports`` whose carrier id is in ``parts`` (→ sms_id, current status, has_callback);
        the others wait in the inbox. True when some wait."""
        known: list[tuple[str, str, bool, str]] = []
        waiting: list[Receipt] = []
        for report in reports:
            found = parts.get(report.carrier_id)
            if found is None:
                waiting.append(Receipt(report.carrier_id, report.stat, report.error_code))
            else:
                known.append((*found, report.stat))
        updates, moved = _receipt_changes(known)
        DispatchRepository(conn).apply_statuses(updates, now)
        ReceiptRepository(conn).add_receipts(waiting, now)
        self.callbacks.parts_changed(conn, moved, now)
        return bool(waiting)

    def apply_receipts(self, batch: int = 5000) -> int:
        """Apply the inbox's receipts whose part is known by now; returns how many."""
        applied = 0
        while True:
            with self.db.write() as conn:
                count = self._apply_inbox(conn, DispatchRepository(conn), batch)
            applied += count
            if count < batch:
                return applied

    def _apply_inbox(self, conn: Connection, repo: DispatchRepository, batch: int) -> int:
        inbox = ReceiptRepository(conn)
        matches = inbox.matched_receipts(batch)
        if not matches:
            return 0
        updates, moved = _receipt_changes((m.sms_id, m.status, m.has_callback, m.stat) for m in matches)
        now = self.clock.now()
        repo.apply_statuses(updates, now)
        inbox.delete_receipts([m.inbox_id for m in matches])
        self.callbacks.parts_changed(conn, moved, now)
        return len(matches)

    def expire_missing_receipts(self, batch: int = 5000) -> int:
        """End parts whose receipt did not come within ``receipt_timeout`` (see ``DispatchSettings``)."""
        expired = 0
        while True:
            now = self.clock.now()
            with self.db.write() as conn:
                changed = DispatchRepository(conn).expire_unconfirmed(
                    now - self.settings.receipt_timeout, now, batch
                )
                self.callbacks.parts_changed(conn, [sms_id for sms_id, hook in changed if hook], now)
            expired += len(changed)
            if len(changed) < batch:
                return expired

    def purge_unmatched_receipts(self) -> int:
        """Forget receipts no part claimed within ``receipt_retention`` (see ``DispatchSettings``)."""
        with self.db.write() as conn:
            return ReceiptRepository(conn).purge_receipts(self.clock.now() - self.settings.receipt_retention)

    def renew_leases(self, sms_ids: Sequence[str]) -> None:
        """Keep parts this process is still sending leased to it for another ``lease``: a slow carrier
        (a low tps) can take longer than one lease to get through a claimed batch, and a part whose lease
        ran out would be claimed and sent again by another dispatcher while this one still sends it."""
        if sms_ids:
            with self.db.write() as conn:
                DispatchRepository(conn).renew_leases(sms_ids, self.clock.now() + self.settings.lease)

    def _allowed_from(self, now: datetime, number: str) -> datetime:
        """When ``number`` may receive: outside quiet hours in every zone it could be in. When no instant
        is allowed in all of them (Russia's 11 zones under the default windows), its first zone decides."""
        zones = zones_of(number)
        try:
            return next_allowed(now, zones, self.quiet_windows)
        except NeverAllowed:
            return next_allowed(now, zones[:1], self.quiet_windows)

    def _prices(self, now: datetime) -> PriceList:
        if (
            self._price_list is None
            or self._price_list_at is None
            or now - self._price_list_at > self.settings.price_refresh
        ):
            self._price_list = self.prices.price_list()
            self._price_list_at = now
        return self._price_list


def _receipt_changes(
    receipts: Iterable[tuple[str, str, bool, str]],
) -> tuple[list[tuple[str, str, str]], list[str]]:
    """For receipts as ``(sms_id, current status, has_callback, stat)``: the status writes, and the parts
    with a callback that hear of the change. Statuses only move forward: a final part ignores a late or
    repeated receipt (``apply_statuses`` leaves it as it is)."""
    updates: list[tuple[str, str, str]] = []
    moved: list[str] = []
    for sms_id, current, has_callback, stat in receipts:
        status, detailed = receipt_change(stat)
        updates.append((sms_id, status, detailed))
        if has_callback and current not in FINAL_VALUES and status != current:
            moved.append(sms_id)
    return updates, moved


@lru_cache(maxsize=256)
def _encoded(body: str) -> tuple[int, list[bytes]]:
    # The parts of a campaign share a handful of bodies: encode each once, not once per part.
    return encode_parts(body)


def outbound(part: ClaimedPart) -> OutboundPart:
    """The carrier's view of a claimed part: its own payload of the message's encoded parts."""
    data_coding, payloads = _encoded(part.body)
    index = min(part.part, len(payloads)) - 1
    validity = None
    if part.expires_at is not None:
        validity = max(1, int((part.expires_at - part.created_at).total_seconds() // 60))
    # The id's last byte: message ids are time-ordered UUIDs, whose first bytes change once a year.
    tail = part.message_id[-2:]
    ref = _REFS.get(tail)
    if ref is None:
        ref = int(tail, 16)
    # Positional (the fields' order): keywords made this call a third slower, once per part handed over.
    return OutboundPart(
        part.sms_id,
        part.to,
        part.sender,
        data_coding,
        payloads[index],
        part.part,
        part.parts,
        ref,
        part.flash,
        validity,
    )


# Two hex digits → their value (``int(digits, 16)``, looked up instead of parsed per part).
_REFS = {f"{n:02x}": n for n in range(256)}
