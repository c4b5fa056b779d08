"""SMPP 3.4 client side: PDUs (`pdu`), submit_sm building (`submit`), receipts (`receipts`) and the asyncio
ESME session (`session`). Knows nothing about campaigns or databases."""

from smscast.smpp.pdu import DeliverSm, Pdu, PduError, PduReader, SubmitSm, SubmitSmResp, decode_pdu
from smscast.smpp.receipts import Receipt, parse_receipt, parse_receipt_date
from smscast.smpp.session import (
    BindFailed,
    SessionClosed,
    SessionStats,
    SmppConfig,
    SmppSession,
    SubmitOutcome,
)
from smscast.smpp.submit import build_submit_sms, relative_validity_period

__all__ = [
    "BindFailed",
    "DeliverSm",
    "Pdu",
    "PduError",
    "PduReader",
    "Receipt",
    "SessionClosed",
    "SessionStats",
    "SmppConfig",
    "SmppSession",
    "SubmitOutcome",
    "SubmitSm",
    "SubmitSmResp",
    "build_submit_sms",
    "decode_pdu",
    "parse_receipt",
    "parse_receipt_date",
    "relative_validity_period",
]
