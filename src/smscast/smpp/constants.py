"""SMPP 3.4 numeric constants: command ids, command_status codes, TLV tags, field bits.

Names follow the SMPP 3.4 specification so the code can be read beside it. Nothing here has behaviour
except `status_name`, which turns a command_status into its ``ESME_R…`` name for logs.
"""

from __future__ import annotations

from typing import Final

# --- command_id (section 5.1.2.1) ---------------------------------------------------------------
GENERIC_NACK: Final = 0x80000000
BIND_RECEIVER: Final = 0x00000001
BIND_RECEIVER_RESP: Final = 0x80000001
BIND_TRANSMITTER: Final = 0x00000002
BIND_TRANSMITTER_RESP: Final = 0x80000002
SUBMIT_SM: Final = 0x00000004
SUBMIT_SM_RESP: Final = 0x80000004
DELIVER_SM: Final = 0x00000005
DELIVER_SM_RESP: Final = 0x80000005
UNBIND: Final = 0x00000006
UNBIND_RESP: Final = 0x80000006
BIND_TRANSCEIVER: Final = 0x00000009
BIND_TRANSCEIVER_RESP: Final = 0x80000009
ENQUIRE_LINK: Final = 0x00000015
ENQUIRE_LINK_RESP: Final = 0x80000015
DATA_SM: Final = 0x00000103
DATA_SM_RESP: Final = 0x80000103

RESPONSE_BIT: Final = 0x80000000
"""A command_id with this bit set is a response (``*_resp`` or generic_nack)."""

HEADER_LENGTH: Final = 16
MAX_PDU_LENGTH: Final = 64 * 1024
"""Frames longer than this are treated as a protocol error (no legitimate 3.4 PDU comes close)."""

MAX_SEQUENCE_NUMBER: Final = 0x7FFFFFFF
INTERFACE_VERSION_34: Final = 0x34

# --- command_status (section 5.1.3) -------------------------------------------------------------
ESME_ROK: Final = 0x00000000
ESME_RINVMSGLEN: Final = 0x00000001
ESME_RINVCMDLEN: Final = 0x00000002
ESME_RINVCMDID: Final = 0x00000003
ESME_RINVBNDSTS: Final = 0x00000004
ESME_RALYBND: Final = 0x00000005
ESME_RINVPRTFLG: Final = 0x00000006
ESME_RINVREGDLVFLG: Final = 0x00000007
ESME_RSYSERR: Final = 0x00000008
ESME_RINVSRCADR: Final = 0x0000000A
ESME_RINVDSTADR: Final = 0x0000000B
ESME_RINVMSGID: Final = 0x0000000C
ESME_RBINDFAIL: Final = 0x0000000D
ESME_RINVPASWD: Final = 0x0000000E
ESME_RINVSYSID: Final = 0x0000000F
ESME_RCANCELFAIL: Final = 0x00000011
ESME_RREPLACEFAIL: Final = 0x00000013
ESME_RMSGQFUL: Final = 0x00000014
ESME_RINVSERTYP: Final = 0x00000015
ESME_RINVESMCLASS: Final = 0x00000043
ESME_RSUBMITFAIL: Final = 0x00000045
ESME_RINVSRCTON: Final = 0x00000048
ESME_RINVSRCNPI: Final = 0x00000049
ESME_RINVDSTTON: Final = 0x00000050
ESME_RINVDSTNPI: Final = 0x00000051
ESME_RINVSYSTYP: Final = 0x00000053
ESME_RTHROTTLED: Final = 0x00000058
ESME_RINVSCHED: Final = 0x00000061
ESME_RINVEXPIRY: Final = 0x00000062
ESME_RX_T_APPN: Final = 0x00000064
ESME_RX_P_APPN: Final = 0x00000065
ESME_RX_R_APPN: Final = 0x00000066
ESME_RINVTLVSTREAM: Final = 0x000000C0
ESME_RINVTLVLEN: Final = 0x000000C2
ESME_RDELIVERYFAILURE: Final = 0x000000FE
ESME_RUNKNOWNERR: Final = 0x000000FF

THROTTLING_STATUSES: Final = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL})
"""Statuses the session answers by slowing down and resubmitting (never returned to the caller)."""

TEMPORARY_STATUSES: Final = frozenset({ESME_RSYSERR, ESME_RX_T_APPN, ESME_RINVBNDSTS, ESME_RUNKNOWNERR})
"""Statuses that `SmppSession.submit` returns as ok=False but that a caller may reasonably retry later."""

# --- optional parameter tags (section 5.3.2) ----------------------------------------------------
TAG_RECEIPTED_MESSAGE_ID: Final = 0x001E
TAG_SAR_MSG_REF_NUM: Final = 0x020C
TAG_SAR_TOTAL_SEGMENTS: Final = 0x020E
TAG_SAR_SEGMENT_SEQNUM: Final = 0x020F
TAG_SC_INTERFACE_VERSION: Final = 0x0210
TAG_NETWORK_ERROR_CODE: Final = 0x0423
TAG_MESSAGE_PAYLOAD: Final = 0x0424
TAG_MESSAGE_STATE: Final = 0x0427

# --- esm_class bits (section 5.2.12) ------------------------------------------------------------
ESM_CLASS_MESSAGE_TYPE_MASK: Final = 0x3C
ESM_CLASS_DELIVERY_RECEIPT: Final = 0x04
ESM_CLASS_UDHI: Final = 0x40

# --- data_coding (section 5.2.19) ---------------------------------------------------------------
DATA_CODING_DEFAULT: Final = 0x00
DATA_CODING_UCS2: Final = 0x08
DATA_CODING_GSM_FLASH: Final = 0x10
DATA_CODING_UCS2_FLASH: Final = 0x18

# --- type of number / numbering plan (section 5.2.5, 5.2.6) -------------------------------------
TON_UNKNOWN: Final = 0
TON_INTERNATIONAL: Final = 1
TON_ALPHANUMERIC: Final = 5
NPI_UNKNOWN: Final = 0
NPI_ISDN: Final = 1

# --- message_state (section 5.2.28) -------------------------------------------------------------
MESSAGE_STATES: Final[dict[int, str]] = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}

_STATUS_NAMES: Final[dict[int, str]] = {
    value: name for name, value in globals().items() if name.startswith("ESME_R") and isinstance(value, int)
}


def status_name(command_status: int) -> str:
    """Return the ``ESME_R…`` name of a command_status, or its hex form when it is not a known code."""
    return _STATUS_NAMES.get(command_status, f"0x{command_status:08X}")
