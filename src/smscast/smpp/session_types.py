"""The session's public data types and errors: configuration, outcomes, counters (see ``session``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from smscast.smpp import constants as c


class BindFailed(Exception):
    """The SMSC refused the bind; ``command_status`` is its answer (e.g. ESME_RINVPASWD)."""

    def __init__(self, command_status: int, system_id: str) -> None:
        super().__init__(f"bind as {system_id!r} refused: {c.status_name(command_status)}")
        self.command_status = command_status


class SessionClosed(Exception):
    """The session is not running. From `SmppSession.submit`: the PDU was never sent, or `close` gave up
    waiting for its response (then the SMSC may or may not have accepted it)."""


class _ConnectionLost(Exception):
    """Internal: a bind/enquire_link/unbind request lost its connection or got an unreadable answer."""


@dataclass(frozen=True)
class SmppConfig:
    """Connection settings. Times are in seconds; ``tps`` 0 means unlimited; ``window`` is the number of
    submit_sm that may await their response; ``deliver_concurrency`` is how many ``on_deliver`` calls may
    run at once (1 keeps the SMSC's order)."""

    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    bind: Literal["transceiver", "transmitter+receiver"] = "transceiver"
    window: int = 100
    tps: float = 0
    enquire_link_s: float = 30
    response_timeout_s: float = 30
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30
    throttle_backoff_s: float = 1.0
    deliver_concurrency: int = 1


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    """``ok`` with the SMSC's ``message_id``, or a refusal: ok=False with the SMSC's command_status."""

    ok: bool
    message_id: str | None
    command_status: int


@dataclass(slots=True)
class SessionStats:
    """Counters since the session was created (`SmppSession.stats` returns a copy)."""

    submitted: int = 0  # submit_sm written, retries included
    resubmitted: int = 0  # in flight on a lost connection (or answered unreadably), queued again
    throttled: int = 0  # ESME_RTHROTTLED / ESME_RMSGQFUL answers
    binds: int = 0
    disconnects: int = 0
    delivered: int = 0  # deliver_sm received
    deliver_errors: int = 0  # on_deliver raised; answered ESME_RX_T_APPN
    enquire_links_sent: int = 0
