"""The expansion's writes: a small first chunk committed (and claimable) before the rest is written, the
chunks growing from there to their cap; a chunk of ``to`` numbers of several countries is one transaction,
so a crash inside it leaves nothing of it, and the expansion resumes with every recipient exactly once."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from smscast.bootstrap import Container
from smscast.db.campaigns import CampaignEngineRepository
from smscast.db.expansion import DirectPartInserter
from smscast.db.schema import messages
from smscast.services.campaign_expansion import growing
from smscast.services.campaign_start import CampaignStarter
from tests.conftest import Tenant, new_tenant

GREEK = [f"+3069485{n:05d}" for n in range(1, 13)]
MIXED = ["+306948500101", "+12015550123", "+447400123456", "+306948500102", "+12015550124", "+447400123457"]


def _count(container: Container, tracking_id: str) -> int:
    with container.db.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(messages).where(messages.c.campaign_id == tracking_id)
            ).scalar_one()
        )


def _numbers(container: Container, tracking_id: str) -> list[str]:
    with container.db.read() as conn:
        return sorted(
            conn.execute(sa.select(messages.c.to).where(messages.c.campaign_id == tracking_id)).scalars()
        )


def _create(tenant: Tenant, **definition: Any) -> str:
    response = tenant.post("/sms/campaign", json={"body": "Autumn offer", "from": "ACME", **definition})
    assert response.status_code == 200, response.text
    return str(response.json()["trackingId"])


def test_chunks_grow_fourfold_from_the_first() -> None:
    assert list(itertools.islice(growing(500), 4)) == [500, 2000, 8000, 32000]
    assert next(growing(0)) == 1


@pytest.mark.parametrize(
    "in_database", [False, True], ids=["rows built in Python", "rows built by the database"]
)
def test_the_first_chunk_is_committed_and_claimable_before_the_rest(
    isolated: tuple[Container, TestClient], in_database: bool
) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    tracking_id = _create(tenant, to=GREEK)
    starter = CampaignStarter(
        container.db, container.clock, write_batch=100, first_chunk=2, in_database=in_database
    )
    written: list[int] = []
    claimed: list[int] = []

    def after_each_write() -> None:  # what a dispatcher woken by the write finds
        written.append(_count(container, tracking_id))
        claimed.append(len(container.dispatch.claim(100)))

    starter.on_parts_written = after_each_write
    assert starter.expand_next() == tracking_id
    assert written == [2, 10, 12]  # 2, then 4 × 2, then the rest
    assert claimed == [2, 8, 2]


def test_group_chunks_grow_from_a_small_first_one(isolated: tuple[Container, TestClient]) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    ids = [tenant.post("/contacts/my", json={"mobile": number}).json()["id"] for number in GREEK]
    assert tenant.post("/groups/my", json={"name": "autumn"}).status_code == 200
    assert tenant.post(f"/groups/my/{quote('autumn')}/contacts", json=ids).status_code == 200
    tracking_id = _create(tenant, groups=["autumn"])
    starter = CampaignStarter(container.db, container.clock, group_chunk=5, first_chunk=2)
    written: list[int] = []
    starter.on_parts_written = lambda: written.append(_count(container, tracking_id))
    assert starter.expand_next() == tracking_id
    assert written == [2, 7, 12, 12]  # 2, then 8 capped to 5, then 5, then what is left (none)
    assert _numbers(container, tracking_id) == GREEK


def test_a_crash_inside_a_chunk_of_several_countries_leaves_none_of_it(
    isolated: tuple[Container, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    container, http = isolated
    tenant = new_tenant(container, http)
    tracking_id = _create(tenant, to=MIXED + GREEK)
    starter = CampaignStarter(container.db, container.clock, write_batch=6, first_chunk=6)
    now = container.clock.now()
    with container.db.write() as conn:
        row = CampaignEngineRepository(conn).claim_expansion(now, now + timedelta(minutes=2))
    assert row is not None and row.tracking_id == tracking_id
    original = DirectPartInserter.insert
    calls = 0

    def crash_on_the_second_country(self: DirectPartInserter, *args: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("worker died")
        return original(self, *args)

    monkeypatch.setattr(DirectPartInserter, "insert", crash_on_the_second_country)
    with pytest.raises(RuntimeError, match="worker died"):
        starter._expand(row)
    assert _count(container, tracking_id) == 0  # GR was written, then rolled back with the chunk

    monkeypatch.setattr(DirectPartInserter, "insert", original)
    assert starter._expand(row) == 18
    assert _numbers(container, tracking_id) == sorted(MIXED + GREEK)
    with container.db.read() as conn:
        countries = dict(
            conn.execute(
                sa.select(messages.c.to, messages.c.country).where(messages.c.campaign_id == tracking_id)
            ).all()
        )
    assert {countries[n] for n in MIXED} == {"GR", "US", "GB"}
