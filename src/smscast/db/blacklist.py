"""The per-service blacklist of contacts (api.md §7).

The contact ids are checked to belong to the account by the caller, and conditions carry the account
(``contacts.member_condition``). The caller owns the transaction; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from smscast.db.bulk import chunks, insert_ignoring_duplicates
from smscast.db.schema import blacklist, contacts


class BlacklistRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def blacklist_add(self, ids: Sequence[str], service: str) -> int:
        """Blacklist ``ids`` (already checked to belong to the account) for ``service``; returns how many
        were not blacklisted for it before."""
        already = self._blacklisted_among(ids, service)
        fresh = [cid for cid in dict.fromkeys(ids) if cid not in already]
        insert_ignoring_duplicates(
            self.conn, blacklist, [{"contact_id": cid, "service": service} for cid in fresh]
        )
        return len(fresh)

    def blacklist_remove(self, ids: Sequence[str], service: str) -> int:
        removed = 0
        for part in chunks(list(dict.fromkeys(ids))):
            removed += self.conn.execute(
                blacklist.delete().where(blacklist.c.service == service, blacklist.c.contact_id.in_(part))
            ).rowcount
        return removed

    def blacklist_remove_where(self, condition: sa.ColumnElement[bool], service: str) -> int:
        """Remove ``service`` blacklist entries of the contacts matching ``condition`` (with the account)."""
        return self.conn.execute(
            blacklist.delete().where(
                blacklist.c.service == service,
                blacklist.c.contact_id.in_(sa.select(contacts.c.id).where(condition)),
            )
        ).rowcount

    def blacklisted_ids(self, account_id: str, service: str) -> list[str]:
        return list(
            self.conn.execute(
                sa.select(contacts.c.id)
                .join(blacklist, blacklist.c.contact_id == contacts.c.id)
                .where(contacts.c.account_id == account_id, blacklist.c.service == service)
                .order_by(contacts.c.id)
            ).scalars()
        )

    def blacklisted(self, ids: Sequence[str]) -> dict[str, set[str]]:
        """contact id → the services it is blacklisted for, for the contacts among ``ids`` that have any."""
        out: dict[str, set[str]] = {}
        for part in chunks(ids):
            for row in self.conn.execute(
                sa.select(blacklist.c.contact_id, blacklist.c.service).where(blacklist.c.contact_id.in_(part))
            ):
                out.setdefault(row.contact_id, set()).add(row.service)
        return out

    def _blacklisted_among(self, ids: Sequence[str], service: str) -> set[str]:
        found: set[str] = set()
        for part in chunks(list(dict.fromkeys(ids))):
            found.update(
                self.conn.execute(
                    sa.select(blacklist.c.contact_id).where(
                        blacklist.c.service == service, blacklist.c.contact_id.in_(part)
                    )
                ).scalars()
            )
        return found
