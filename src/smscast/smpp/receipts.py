"""Delivery receipts: read a deliver_sm that carries one into a `Receipt`.

SMSCs disagree on the receipt format (Appendix B of SMPP 3.4 is informative only), so parsing is
forgiving: the ``receipted_message_id`` and ``message_state`` TLVs win when present; otherwise the text
``id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…`` is read with any case, any field
missing, 10- or 12-digit dates, decimal or hex ``err``. Nothing here raises on odd input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from smscast.smpp import constants as c
from smscast.smpp.pdu import DeliverSm

_FIELD = re.compile(
    r"\b(id|sub|dlvrd|submit[ _]date|done[ _]date|stat|err)\s*:\s*(\S*)|\btext\s*:(.*)$",
    re.IGNORECASE | re.DOTALL,
)
_STANDARD = re.compile(
    r"id:(\S*) sub:\S* dlvrd:\S* submit date:(\S*) done date:(\S*) stat:(\S*) err:(\S*)(?: text:(.*))?$",
    re.IGNORECASE | re.DOTALL,
)
_DATE = re.compile(r"^\d{10}(\d{2})?$")
_STATES = c.MESSAGE_STATES


@dataclass(frozen=True, slots=True)
class Receipt:
    """A parsed delivery receipt.

    ``message_id`` is the SMSC id as given by submit_sm_resp (TLV) or the receipt text ("" when neither
    says); ``stat`` is an upper-case state name (DELIVRD, UNDELIV, EXPIRED, REJECTD, …) or "UNKNOWN";
    ``err`` is the raw error code text ("" when absent); dates are the raw ``YYMMDDhhmm[ss]`` digits
    (see `parse_receipt_date`); ``text`` is whatever followed ``text:``.
    """

    message_id: str
    stat: str
    err: str
    submit_date: str | None
    done_date: str | None
    text: str

    @property
    def err_code(self) -> int | None:
        """``err`` as a number: decimal when all digits, else hex (``0x1A``, ``00A``); None if neither."""
        raw = self.err.strip()
        if not raw:
            return None
        try:
            return int(raw, 10) if raw.isdigit() else int(raw.removeprefix("0x").removeprefix("0X"), 16)
        except ValueError:
            return None


def is_receipt(pdu: DeliverSm) -> bool:
    """True when the deliver_sm's esm_class message type says "SMSC delivery receipt"."""
    return pdu.esm_class & c.ESM_CLASS_MESSAGE_TYPE_MASK == c.ESM_CLASS_DELIVERY_RECEIPT


def parse_receipt(pdu: DeliverSm) -> Receipt | None:
    """Return the receipt carried by ``pdu``, or None when it is not a receipt (a mobile-originated SMS).

    Never raises: a receipt whose text cannot be read comes back with stat "UNKNOWN".
    """
    if not is_receipt(pdu):
        return None
    body = pdu.short_message or pdu.tlvs.get(c.TAG_MESSAGE_PAYLOAD, b"")
    fields = _text_fields(body.decode("latin-1"))
    message_id, stat, err = _resolve(
        pdu.tlvs, fields.get("id", ""), fields.get("stat", ""), fields.get("err", "")
    )
    return Receipt(
        message_id=message_id,
        stat=stat,
        err=err,
        submit_date=_date_or_none(fields.get("submit date")),
        done_date=_date_or_none(fields.get("done date")),
        text=fields.get("text", ""),
    )


def receipt_report(pdu: DeliverSm) -> tuple[str, str, str] | None:
    """``(message_id, stat, err)`` of `parse_receipt` (None when it returns None), without the dates and the
    text: what a carrier keeps of a receipt, read with one regex match in the common layout."""
    return report_of(pdu.esm_class, pdu.short_message, pdu.tlvs)


def report_of(esm_class: int, short_message: bytes, tlvs: dict[int, bytes]) -> tuple[str, str, str] | None:
    """`receipt_report` of a deliver_sm with these fields (the rest play no part)."""
    if esm_class & c.ESM_CLASS_MESSAGE_TYPE_MASK != c.ESM_CLASS_DELIVERY_RECEIPT:
        return None
    text = (short_message or tlvs.get(c.TAG_MESSAGE_PAYLOAD, b"")).decode("latin-1")
    standard = _STANDARD.match(text)
    if standard is not None:
        # \S* and str.strip() agree on what whitespace is: these groups need no strip().
        message_id, stat, err = standard.group(1, 4, 5)
        return _resolve(tlvs, message_id, stat, err)
    fields = _text_fields(text)
    return _resolve(tlvs, fields.get("id", ""), fields.get("stat", ""), fields.get("err", ""))


def _resolve(tlvs: dict[int, bytes], text_id: str, text_stat: str, err: str) -> tuple[str, str, str]:
    """``(message_id, stat, err)`` from the text's fields and the TLVs: receipted_message_id (unless empty)
    and a known message_state win over the text; network_error_code fills in a missing ``err``. (What
    ``tlv.get_cstring`` and ``tlv.get_int`` read, inline: this runs once per receipt.)"""
    message_id = text_id
    if tlvs:
        raw = tlvs.get(c.TAG_RECEIPTED_MESSAGE_ID)
        if raw:
            nul = raw.find(b"\x00")
            message_id = (raw if nul < 0 else raw[:nul]).decode("latin-1") or text_id
        raw = tlvs.get(c.TAG_MESSAGE_STATE)
        stat = _STATES.get(int.from_bytes(raw, "big")) if raw is not None and len(raw) in (1, 2, 4) else None
        if not err:
            raw = tlvs.get(c.TAG_NETWORK_ERROR_CODE)
            if raw is not None and len(raw) == 3:
                err = str(int.from_bytes(raw[1:], "big"))
        if stat is not None:
            return message_id.strip(), stat, err
    return message_id.strip(), text_stat.upper() or "UNKNOWN", err


def _text_fields(body: str) -> dict[str, str]:
    """Read the receipt text into lower-case keys (id, submit date, …, text); absent fields are absent."""
    standard = _STANDARD.match(body)
    if standard is not None:  # the common layout, in one match
        keys = ("id", "submit date", "done date", "stat", "err", "text")
        return {
            key: value.strip()
            for key, value in zip(keys, standard.groups(), strict=True)
            if value is not None
        }
    fields: dict[str, str] = {}
    for match in _FIELD.finditer(body):
        if match.group(3) is not None:
            fields["text"] = match.group(3).strip()
            break
        fields.setdefault(match.group(1).lower().replace("_", " "), match.group(2))
    return fields


def _date_or_none(raw: str | None) -> str | None:
    return raw if raw is not None and _DATE.match(raw) else None


def parse_receipt_date(raw: str | None) -> datetime | None:
    """Turn receipt date digits ``YYMMDDhhmm`` or ``YYMMDDhhmmss`` into an aware datetime.

    The SMSC's time zone is not carried in receipts; UTC is assumed (configure the SMSC accordingly).
    Returns None for None, malformed or impossible dates.
    """
    if raw is None or not _DATE.match(raw):
        return None
    try:
        return datetime.strptime(raw if len(raw) == 12 else raw + "00", "%y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
