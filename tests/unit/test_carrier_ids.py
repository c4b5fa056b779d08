"""Carrier ids longer than SMPP allows (64 characters) are stored in a stable 64-character form, the same
for a part's submit_sm_resp and for its receipts, so that they fit the carrier id columns and still match."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from smscast.carriers.base import DeliveryReport
from smscast.carriers.smpp import CARRIER_ID_MAX, SmppCarrier, _result, carrier_id
from smscast.smpp.session_types import SubmitOutcome

LONG = "SMSC-" + "0123456789abcdef" * 8  # 133 characters
OTHER = LONG[:-1] + "X"  # the same first 131 characters


def test_ids_that_fit_are_kept_and_longer_ones_become_64_characters_that_still_tell_them_apart() -> None:
    assert carrier_id("a" * CARRIER_ID_MAX) == "a" * CARRIER_ID_MAX
    assert carrier_id("0a1b2c") == "0a1b2c"
    stored = carrier_id(LONG)
    assert len(stored) == CARRIER_ID_MAX and stored.startswith(LONG[:31] + "~")
    assert carrier_id(LONG) == stored  # stable
    assert carrier_id(OTHER) != stored


def test_a_long_id_is_stored_the_same_way_for_the_submit_and_for_its_receipts() -> None:
    carrier = SmppCarrier.from_url("smpp://smscast:secret@127.0.0.1:2775")
    received: list[DeliveryReport] = []

    async def sink(reports: Sequence[DeliveryReport]) -> None:
        received.extend(reports)

    carrier._sink = sink
    submitted = _result(SubmitOutcome(True, LONG, 0)).carrier_id
    asyncio.run(carrier._on_receipts([(LONG, "DELIVRD", "000"), ("short-id", "DELIVRD", "000")]))
    assert submitted == carrier_id(LONG)
    assert [report.carrier_id for report in received] == [submitted, "short-id"]
