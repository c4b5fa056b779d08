"""The one place that knows every concrete class: builds the database, services and carrier from settings.

Nothing happens at import time; ``build_container`` does the work when a process starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from smscast.db.database import Database
from smscast.db.migrate import upgrade
from smscast.domain.clock import Clock, SystemClock
from smscast.services.accounts import AccountService
from smscast.services.prices import PriceService
from smscast.settings import Settings


@dataclass
class Container:
    settings: Settings
    db: Database
    clock: Clock
    accounts: AccountService
    prices: PriceService

    def close(self) -> None:
        self.db.dispose()


def build_container(settings: Settings, *, clock: Clock | None = None) -> Container:
    clock = clock or SystemClock()
    db = Database(settings.database_url)
    return Container(
        settings=settings,
        db=db,
        clock=clock,
        accounts=AccountService(db, clock, default_token_ttl_s=settings.token_ttl_s),
        prices=PriceService(db),
    )


def migrate(container: Container) -> None:
    """Bring the schema up to date and load the shipped price table if none was loaded yet."""
    upgrade(container.db)
    container.prices.ensure_default()
