"""``CampaignAnalysis.add_numbers`` counts exactly what ``add`` one number at a time counts."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from smscast.domain.analysis import CampaignAnalysis
from smscast.domain.personalisation import compile_template
from smscast.domain.pricing import NoPrice, PriceList

PRICES = PriceList({"GR": Decimal("0.02"), "DE": Decimal("0.05"), "ZZ": Decimal("0.10")})


def _analysis(body: str, prices: PriceList = PRICES) -> CampaignAnalysis:
    return CampaignAnalysis(
        template=compile_template(body),
        fallback={"firstName": "friend"},
        prices=prices,
        transcode_enabled=False,
    )


def _figures(analysis: CampaignAnalysis) -> tuple[object, ...]:
    return (
        analysis.recipients,
        sorted(analysis.seen),
        dict(analysis.per_country),
        dict(analysis.parts_per_country),
        analysis.total_messages,
        analysis.cost,
    )


@pytest.mark.parametrize(
    "body",
    [
        "Your offer is waiting",
        "Hi [~firstName], " + "a long text that needs several parts. " * 8,  # personalised, 3 parts
    ],
)
def test_bulk_counts_equal_one_by_one_with_duplicates_and_numbers_seen_before(body: str) -> None:
    rng = random.Random(7)
    regions = {"+3069": "GR", "+4915": "DE", "+4477": "GB"}
    numbers = [f"{prefix}{rng.randrange(300):08d}" for prefix in rng.choices(list(regions), k=900)]
    pairs = [(number, regions[number[:5]]) for number in numbers]
    earlier = pairs[:50]  # e.g. contacts added before the `to` list
    one_by_one, bulk = _analysis(body), _analysis(body)
    for analysis in (one_by_one, bulk):
        for number, region in earlier:
            analysis.add(number, region, None, False)
    for number, region in pairs:
        one_by_one.add(number, region, None, False)
    bulk.add_numbers([n for n, _ in pairs], [r for _, r in pairs])
    assert _figures(bulk) == _figures(one_by_one)
    assert bulk.recipients < len(pairs)  # there were duplicates


def test_bulk_fails_on_a_country_without_a_price_as_one_by_one_does() -> None:
    no_fallback = PriceList({"GR": Decimal("0.02")})
    with pytest.raises(NoPrice):
        _analysis("Hi", no_fallback).add_numbers(["+306948000001", "+4915100000001"], ["GR", "DE"])
    with pytest.raises(NoPrice):
        _analysis("Hi", no_fallback).add("+4915100000001", "DE", None, False)


def test_bulk_with_nothing_new_changes_nothing() -> None:
    analysis = _analysis("Hi")
    analysis.add("+306948000001", "GR", None, False)
    before = _figures(analysis)
    analysis.add_numbers(["+306948000001"], ["GR"])
    analysis.add_numbers([], [])
    assert _figures(analysis) == before
