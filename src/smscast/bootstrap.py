"""The one place that knows every concrete class: builds the database, services and carrier from settings.

Nothing happens at import time; ``build_container`` does the work when a process starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from smscast.carriers.base import Carrier
from smscast.carriers.factory import carrier_from_url, carrier_rate
from smscast.db.database import Database
from smscast.db.migrate import upgrade
from smscast.domain.clock import Clock, SystemClock
from smscast.domain.rate_limit import BucketPolicy, RateLimiter
from smscast.engine.callbacks import CallbackSender
from smscast.engine.runner import Engine, EngineSettings
from smscast.services.accounts import AccountService
from smscast.services.callbacks import CallbackPlanner, CallbackService
from smscast.services.campaign_start import CampaignStarter
from smscast.services.campaigns import CampaignService
from smscast.services.contacts import ContactService
from smscast.services.dispatching import DispatchService, DispatchSettings
from smscast.services.groups import GroupService
from smscast.services.messages import MessageService
from smscast.services.prices import PriceService
from smscast.services.tracking import TrackingService
from smscast.settings import Settings


@dataclass
class Container:
    settings: Settings
    db: Database
    clock: Clock
    accounts: AccountService
    prices: PriceService
    campaigns: CampaignService
    messages: MessageService
    starter: CampaignStarter
    callbacks: CallbackService
    dispatch: DispatchService
    tracking: TrackingService
    contacts: ContactService
    groups: GroupService
    # Per process: N API processes allow N times the rate (docs/operations.md).
    rate_limiter: RateLimiter
    # Attempts at POST /oauth/token per application id: each costs a PBKDF2 verification.
    token_limiter: RateLimiter

    def close(self) -> None:
        self.db.dispose()


TOKEN_REQUESTS_PER_S = 2.0
TOKEN_REQUEST_BURST = 20


def build_container(settings: Settings, *, clock: Clock | None = None) -> Container:
    clock = clock or SystemClock()
    db = Database(settings.database_url)
    prices = PriceService(db)
    planner = CallbackPlanner()
    return Container(
        settings=settings,
        db=db,
        clock=clock,
        accounts=AccountService(db, clock, default_token_ttl_s=settings.token_ttl_s),
        prices=prices,
        campaigns=CampaignService(
            db, clock, prices, allow_private_callbacks=settings.allow_private_callbacks, callbacks=planner
        ),
        messages=MessageService(db, clock, prices, allow_private_callbacks=settings.allow_private_callbacks),
        starter=CampaignStarter(db, clock, callbacks=planner),
        callbacks=CallbackService(db, clock, settings.callback_retry_s, settings.callback_timeout_s),
        dispatch=DispatchService(
            db,
            clock,
            prices,
            settings.quiet_windows,
            DispatchSettings(
                lease=timedelta(seconds=settings.dispatch_lease_s),
                receipt_timeout=timedelta(seconds=settings.receipt_timeout_s),
            ),
            callbacks=planner,
        ),
        tracking=TrackingService(db),
        contacts=ContactService(db, clock),
        groups=GroupService(db, clock),
        rate_limiter=RateLimiter(BucketPolicy(settings.rate_limit_per_s, settings.rate_limit_burst)),
        token_limiter=RateLimiter(BucketPolicy(TOKEN_REQUESTS_PER_S, TOKEN_REQUEST_BURST)),
    )


#: Dispatchers per engine. SQLite's writer is in this process: a third dispatcher's claim overlaps the
#: others' carrier round trips (e2e +8-15 %, docs/performance.md). On PostgreSQL the backends already use
#: the other core; a third dispatcher only added CPU contention on 2 cores (-5 %).
DISPATCHERS = {"sqlite": 3, "postgresql": 2}


def build_engine(container: Container, carrier: Carrier | None = None) -> Engine:
    """The engine loops over ``container``'s services, delivering to ``carrier`` (default: from settings).
    Work the API of this process queues wakes the engine's loops at once (engine/nudge.py)."""
    engine = Engine(
        container.starter,
        container.dispatch,
        carrier or carrier_from_url(container.settings.carrier_url),
        EngineSettings(dispatchers=DISPATCHERS["sqlite" if container.db.is_sqlite else "postgresql"]),
        callbacks=CallbackSender(container.callbacks, container.settings.callback_timeout_s),
    )
    container.campaigns.on_queued = engine.scheduler_nudge.notify
    container.messages.on_queued = engine.dispatch_nudge.notify
    container.starter.on_parts_written = engine.dispatch_nudge.notify
    # This process's expansion writes parts kept for its dispatchers (services/kept_parts.py), at most what
    # they send in a couple of seconds: at the carrier's tps, when it has one.
    container.starter.keeper = container.dispatch
    if carrier is None:
        container.dispatch.kept.rate = carrier_rate(container.settings.carrier_url)
    return engine


def migrate(container: Container) -> None:
    """Bring the schema up to date and load the shipped price table if none was loaded yet."""
    upgrade(container.db)
    container.prices.ensure_default()
