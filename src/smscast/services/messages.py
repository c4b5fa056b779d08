"""Single messages (api.md §3.2, §3.3): analyse a body, send one SMS."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from smscast.db.accounts import AccountRepository
from smscast.db.database import Database
from smscast.db.messages import MessageRepository, NewPart
from smscast.domain.analysis import final_text
from smscast.domain.auth import Principal
from smscast.domain.campaigns import Callback, check_callback_url
from smscast.domain.clock import Clock
from smscast.domain.errors import InsufficientBalance, validation_error
from smscast.domain.numbers import parse_e164
from smscast.domain.segmentation import BodyAnalysis, analyse, segment
from smscast.domain.sender import validate_sender
from smscast.services.prices import PriceService

MAX_BODY_CHARACTERS = 1600


@dataclass(frozen=True, slots=True)
class SingleMessage:
    body: str
    to: str
    sender: str
    flash: bool = False
    label: str | None = None
    callback: Callback | None = None
    ttl_minutes: int | None = None
    transcode: bool | None = None


@dataclass(frozen=True, slots=True)
class SentMessage:
    tracking_id: str
    created_at: datetime
    message: SingleMessage
    body_analysis: BodyAnalysis


@dataclass(frozen=True, slots=True)
class BodyQuote:
    body_analysis: BodyAnalysis
    cost: Decimal | None


class MessageService:
    def __init__(
        self, db: Database, clock: Clock, prices: PriceService, *, allow_private_callbacks: bool = False
    ) -> None:
        self.db = db
        self.clock = clock
        self.prices = prices
        self.allow_private_callbacks = allow_private_callbacks
        # host:port forms of this server's own address; callbacks there are refused (set by ``serve``).
        self.own_hosts: frozenset[str] = frozenset()
        # Called once a message is queued: wakes this process's dispatchers (engine/nudge.py).
        self.on_queued: Callable[[], None] = lambda: None

    def analyse(self, body: str, sender: str | None, to: str | None) -> BodyQuote:
        """The body analysis, and the cost of all its parts when ``to`` is given."""
        if len(body) > MAX_BODY_CHARACTERS:
            raise validation_error("body", f"must be at most {MAX_BODY_CHARACTERS} characters")
        number = parse_e164(to, "to") if to is not None else None
        if sender is not None:
            validate_sender(sender)
        result = analyse(body)
        cost = None
        if number is not None:
            cost = self.prices.price_list().cost(number.region, result.parts)
        return BodyQuote(result, cost)

    def send(self, principal: Principal, message: SingleMessage) -> SentMessage:
        """Queue one SMS (one row per part); 400001009 when the balance does not cover it."""
        if not message.body:
            raise validation_error("body", "must not be empty")
        if len(message.body) > MAX_BODY_CHARACTERS:
            raise validation_error("body", f"must be at most {MAX_BODY_CHARACTERS} characters")
        number = parse_e164(message.to, "to")
        if message.callback is not None:
            check_callback_url(
                message.callback.url,
                "callback.url",
                allow_private=self.allow_private_callbacks,
                own_hosts=self.own_hosts,
            )
        validate_sender(message.sender)
        now = self.clock.now()
        message_id = str(uuid.uuid4())
        with self.db.write() as conn:
            accounts = AccountRepository(conn)
            account = accounts.get(principal.account_id)
            assert account is not None
            transcode = message.transcode if message.transcode is not None else account.enforce_transcoding
            text = final_text(message.body, transcode)
            parts = segment(text)
            if self.prices.price_list(conn).cost(number.region, len(parts)) > account.balance:
                raise InsufficientBalance("You don't have enough balance to send the message")
            callback = json.dumps(message.callback.to_json()) if message.callback else None
            expires = now + timedelta(minutes=message.ttl_minutes) if message.ttl_minutes else None
            MessageRepository(conn).insert_many(
                [
                    NewPart(
                        sms_id=str(uuid.uuid4()),
                        message_id=message_id,
                        account_id=principal.account_id,
                        application_id=principal.application_id,
                        campaign_id=None,
                        part=index,
                        parts=len(parts),
                        to=number.e164,
                        sender=message.sender,
                        country=number.region,
                        body=text,
                        label=message.label,
                        flash=message.flash,
                        groups=None,
                        callback=callback,
                        status="Queued",
                        status_date=now,
                        not_before=now,
                        expires_at=expires,
                        created_at=now,
                    )
                    for index in range(1, len(parts) + 1)
                ]
            )
        self.on_queued()
        return SentMessage(message_id, now, message, analyse(text))
