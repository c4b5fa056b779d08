"""Campaign reminders: a test SMS of the campaign's text to the reminder numbers ``minutesBefore`` the
scheduled send and ``minutesAfter`` it, each sent once (`CampaignEngineRepository.mark_reminder`), with ids
derived from the campaign, the moment and the number, so that a retried write cannot send it twice."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from smscast.db.campaigns import CampaignEngineRepository, CampaignRow
from smscast.db.database import Database
from smscast.db.messages import NewPart, insert_ignoring_duplicates
from smscast.domain.campaigns import CampaignDefinition, CampaignState
from smscast.domain.numbers import validate_numbers
from smscast.domain.personalisation import compile_template
from smscast.domain.segmentation import count_parts
from smscast.domain.statuses import MessageStatus

ID_NAMESPACE = uuid.UUID("6b3f4c2e-9f1d-4f57-9a53-2f6d1c0e8a11")


def store_missing_moments(db: Database) -> int:
    """Store when the reminders are due of the campaigns that have a reminder but no stored moment (written
    by a process of the previous version during a rolling upgrade, after migration 0009 filled in the
    others); returns how many. Run once when a process's engine starts."""
    with db.read() as conn:
        rows = CampaignEngineRepository(conn).without_reminder_moments()
    stored = 0
    for tracking_id, scheduled, text in rows:
        reminder = CampaignDefinition.from_json(json.loads(text)).reminder
        if reminder is None:
            continue  # "reminder" appears in the text only
        with db.write() as conn:
            CampaignEngineRepository(conn).set_reminder_moments(tracking_id, *reminder.moments(scheduled))
        stored += 1
    return stored


def send_due_reminders(db: Database, now: datetime) -> int:
    """Queue the reminders due at ``now``; returns how many."""
    sent = 0
    with db.read() as conn:
        rows = CampaignEngineRepository(conn).due_reminders(now)
    for row in rows:
        definition = CampaignDefinition.from_json(json.loads(row.definition))
        if definition.reminder is None:
            continue
        moments = [("before", row.reminder_before_due)]
        if row.state is not CampaignState.SCHEDULED:
            moments.append(("after", row.reminder_after_due))
        for which, at in moments:
            if at is None or at > now:
                continue
            with db.write() as conn:
                if not CampaignEngineRepository(conn).mark_reminder(row.tracking_id, which, now):
                    continue
                insert_ignoring_duplicates(conn, _reminder_parts(row, definition, which, now))
                sent += 1
    return sent


def _reminder_parts(
    row: CampaignRow, definition: CampaignDefinition, which: str, now: datetime
) -> list[NewPart]:
    assert definition.reminder is not None
    text = compile_template(definition.body).render({}, definition.fallback_values)
    parts = count_parts(text)
    out = []
    for number in validate_numbers(list(definition.reminder.to), "reminder.to"):
        message_id = str(uuid.uuid5(ID_NAMESPACE, f"{row.tracking_id}/reminder-{which}/{number.e164}"))
        for part in range(1, parts + 1):
            out.append(
                NewPart(
                    sms_id=str(uuid.uuid5(ID_NAMESPACE, f"{message_id}/{part}")),
                    message_id=message_id,
                    account_id=row.account_id,
                    application_id=row.application_id,
                    campaign_id=None,
                    part=part,
                    parts=parts,
                    to=number.e164,
                    sender=definition.sender,
                    country=number.region,
                    body=text,
                    label="reminder",
                    flash=definition.flash,
                    groups=None,
                    callback=None,
                    status=MessageStatus.QUEUED.value,
                    status_date=now,
                    not_before=now,
                    expires_at=None,
                    created_at=now,
                )
            )
    return out
