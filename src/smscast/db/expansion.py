"""Campaign expansion inside the database: the parts of a chunk of a group's members are written by one
``INSERT INTO messages … SELECT … FROM group_members JOIN contacts …`` (docs/adr/0005).

For a campaign whose body is not personalised every recipient gets the same text in the same number of
parts, so a part row is the member's number and country plus constants: the database builds the rows and
no Python object is made per recipient. A chunk is a keyset range of the group's members, ``(after,
upto]`` by contact id, numbered in that order; the caller commits it with the expansion's checkpoint.

Part and message ids are the expansion's time-ordered UUIDs (``prefix`` + 8 hex digits of a counter): the
caller reserves ``size × (parts + 1)`` counter values from ``first`` per chunk, and the member numbered
``rn`` (from 1) gets ``first + (rn - 1) × (parts + 1)`` for its message id and the next ``parts`` values for
its parts (``part_ids`` says the same in Python). A contact that stores no country gets its number's
(``region_of``): on SQLite a function registered on the connection does it inside the statement (one Python
call per such contact); on PostgreSQL those members are left out and ``without_country`` returns them for
the caller to place and write with the same ids.

``DirectPartInserter`` does the same for a list of numbers (the campaign's ``to`` and ``contacts``, already
validated and de-duplicated by the caller), all of one country: the numbers are one JSON parameter
(``driver.listed``) and the number at index ``i`` is numbered ``i + 1``.

Both can write their parts *kept*: leased to the writing process and priced, as a claim leaves them
(services/kept_parts.py, docs/adr/0009), at one price (``Kept``, one country) or at each part's country's
(``KeptByCountry``, from a tariff); ``written_part_ids``, ``kept_rows`` and ``release_kept`` serve that.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Dialect

from smscast.db.contacts import ALL_GROUP_ID, NOT_LISTED_GROUP_ID
from smscast.db.driver import binder, driver_cursor, is_postgres, listed
from smscast.db.schema import blacklist, contacts, group_members, messages
from smscast.db.types import Money
from smscast.domain.numbers import region_of

_REGION_OF = "smscast_region_of"


class Kept(NamedTuple):
    """The columns of parts written kept: leased to the writer until ``lease_until`` (first attempt), and
    priced ``price`` each (the writer charges them in the same transaction)."""

    lease_until: datetime
    price: Decimal


class KeptByCountry(NamedTuple):
    """`Kept` for parts of several countries: each priced from ``tariff`` (ISO → part price), ``fallback``
    for a country not in it."""

    lease_until: datetime
    tariff: Mapping[str, Decimal]
    fallback: Decimal


def kept_rows(
    conn: Connection, prefix: str, first: int, count: int, lease_until: datetime
) -> list[tuple[str, str, int, str, str, int]]:
    """``(sms_id, message_id, part, to, country, price in micro-units)`` of the parts written kept under
    ``lease_until`` among the ``count`` ids reserved from ``first``, in id order. On SQLite as one JSON row
    (a row per step would hand the GIL over once per part)."""
    low, high = _reserved(prefix, first, count)
    if is_postgres(conn.dialect):
        # The driver's own cursor: plain tuples, ids as text (`database.py`), ~1 µs a row less.
        with driver_cursor(conn) as cursor:
            cursor.execute(
                'SELECT sms_id, message_id, part, "to", country, price FROM messages'
                " WHERE sms_id BETWEEN %s::uuid AND %s::uuid AND lease_until = %s ORDER BY sms_id",
                (low, high, binder(conn.dialect, "messages", "lease_until")(lease_until)),
            )
            rows: list[tuple[str, str, int, str, str, int]] = cursor.fetchall()
        return rows
    m = messages.c
    columns = (m.sms_id, m.message_id, m.part, m.to, m.country, sa.type_coerce(m.price, sa.BigInteger()))
    where = [m.sms_id >= low, m.sms_id <= high, m.lease_until == lease_until]
    ordered = sa.select(*columns).where(*where).order_by(m.sms_id).subquery()
    packed = sa.func.json_group_array(sa.func.json_array(*ordered.c))
    text = conn.execute(sa.select(packed)).scalar_one()
    return [tuple(row) for row in orjson.loads(text)] if text else []


def written_part_ids(conn: Connection, prefix: str, first: int, count: int) -> list[str]:
    """The ids among the ``count`` reserved from ``first`` (``prefix`` + 8 hex digits) that have a row."""
    low, high = _reserved(prefix, first, count)
    query = sa.select(messages.c.sms_id).where(messages.c.sms_id >= low, messages.c.sms_id <= high)
    return [str(sms_id) for sms_id in conn.execute(query).scalars()]


def release_kept(conn: Connection, sms_ids: Sequence[str], lease_until: datetime, *, unprice: bool) -> None:
    """End the lease of kept parts still under the lease they were written with (any other lease is a
    claim's since); ``unprice``: besides, clear their price and attempt (they were never charged)."""
    if not sms_ids:
        return
    table, _ = listed(conn.dialect, sms_ids)
    values: dict[str, Any] = {"lease_until": None}
    if unprice:
        values |= {"price": None, "attempts": 0}
    ids = sa.select(sa.cast(table.c.value, messages.c.sms_id.type)).scalar_subquery()
    conn.execute(
        messages.update()
        .where(messages.c.sms_id.in_(ids), messages.c.lease_until == lease_until)
        .values(**values)
    )


def _reserved(prefix: str, first: int, count: int) -> tuple[str, str]:
    """The first and the last of the ``count`` ids reserved from ``first``."""
    return f"{prefix}{first:08x}", f"{prefix}{first + count - 1:08x}"


def numbered_parts(
    prefix: str, first: int, numbers: Sequence[str], parts: int, present: Container[str] | None = None
) -> Iterator[tuple[str, str, int, str]]:
    """``(sms_id, message_id, part, number)`` of every part of ``numbers``, the number at index ``i``
    numbered ``i + 1`` (`part_ids` for a whole chunk, in one loop: ~0.4 µs a part where a call per number
    costs ~1.1); ``present``: only the numbers whose first part's id is in it."""
    step = parts + 1
    return (
        (f"{prefix}{base + part:08x}", f"{prefix}{base:08x}", part, number)
        for base, number in zip(range(first, first + len(numbers) * step, step), numbers, strict=True)
        if present is None or f"{prefix}{base + 1:08x}" in present
        for part in range(1, step)
    )


def part_ids(prefix: str, first: int, rn: int, parts: int) -> tuple[str, list[str]]:
    """The message id and the part ids of the member numbered ``rn`` in a chunk whose ids start at
    ``first`` (what ``GroupPartInserter.insert`` computes in SQL)."""
    base = first + (rn - 1) * (parts + 1)
    return f"{prefix}{base:08x}", [f"{prefix}{base + part:08x}" for part in range(1, parts + 1)]


class _PartInserter:
    """What both inserters share: the per-campaign column values and the ids made from a counter."""

    def __init__(
        self,
        dialect: Dialect,
        account_id: str,
        *,
        service: str,
        parts: int,
        groups: str | None,
        shared: Mapping[str, Any],
    ) -> None:
        self._dialect = dialect
        self._postgres = is_postgres(dialect)
        self._account_id = account_id
        self._service = service
        self.parts = parts
        self.groups = groups
        self._columns: dict[str, sa.ColumnElement[Any]] = {
            name: sa.literal(value, messages.c[name].type) for name, value in shared.items()
        }
        self._columns["groups"] = sa.null() if groups is None else sa.literal(groups, messages.c.groups.type)
        self._columns["parts"] = sa.literal(parts, messages.c.parts.type)
        self._columns["body"] = sa.null()

    def _write(
        self,
        conn: Connection,
        source: sa.FromClause,
        rn: sa.ColumnElement[int],
        values: Mapping[str, sa.ColumnElement[Any]],
        where: Sequence[sa.ColumnElement[bool]],
        prefix: str,
        first: int,
        *,
        durable: bool = False,
    ) -> int:
        """``INSERT INTO messages … SELECT`` one row per part of each row of ``source`` meeting ``where``,
        the row numbered ``rn`` (from 1) getting its ids from ``first``; returns how many recipients.
        ``durable``: the transaction's commit waits for the WAL flush (kept parts may be sent at once)."""
        base = sa.literal(first, sa.BigInteger()) + (rn - 1) * (self.parts + 1)
        order: list[sa.ColumnElement[Any]] = []
        if self.parts == 1:
            part: sa.ColumnElement[int] = sa.literal(1, sa.Integer())
        else:
            numbers = sa.union_all(
                *(sa.select(sa.literal(n, sa.Integer()).label("n")) for n in range(1, self.parts + 1))
            ).subquery("part_numbers")
            source = source.join(numbers, sa.true())
            part = numbers.c.n
            order = [rn, numbers.c.n]
        columns = {
            **self._columns,
            "sms_id": self._id(prefix, base + part),
            "message_id": self._id(prefix, base),
            "part": part,
            **values,
        }
        select = (
            sa.select(*(value.label(name) for name, value in columns.items()))
            .select_from(source)
            .where(*where)
            .order_by(*order)
        )
        if self._postgres and not durable:
            # Committed with its checkpoint: a chunk lost to a server crash is written again on resume
            # (docs/adr/0005), so the commit need not wait for the WAL flush.
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        insert = messages.insert().from_select(list(columns), select)
        # SQLAlchemy keeps an INSERT's row count only when asked (psycopg's is -1 otherwise).
        written = conn.execute(insert.execution_options(preserve_rowcount=True)).rowcount
        return written // self.parts

    def _not_blacklisted(self, contact_id: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
        return ~sa.exists().where(blacklist.c.contact_id == contact_id, blacklist.c.service == self._service)

    def _id(self, prefix: str, counter: sa.ColumnElement[int]) -> sa.ColumnElement[str]:
        """``prefix`` followed by ``counter`` as 8 lower-case hex digits (a UUID's text: cast to the id
        columns' type, ``uuid`` on PostgreSQL)."""
        if self._postgres:
            digits = sa.func.lpad(sa.func.to_hex(counter), 8, "0")
            return sa.cast(sa.literal(prefix, sa.String()).concat(digits), messages.c.sms_id.type)
        digits = sa.func.printf("%08x", counter)
        return sa.literal(prefix, sa.String()).concat(digits)


class DirectPartInserter(_PartInserter):
    """Writes the parts of numbers given by the caller (``to`` and ``contacts`` of a campaign whose body is
    not personalised), in the caller's transaction, leaving out the number of a contact of the account
    blacklisted for ``service`` (the same rule ``Recipients`` applies in Python)."""

    def __init__(
        self, dialect: Dialect, account_id: str, *, service: str, parts: int, shared: Mapping[str, Any]
    ) -> None:
        super().__init__(dialect, account_id, service=service, parts=parts, groups=None, shared=shared)

    def insert(
        self,
        conn: Connection,
        numbers: Sequence[str],
        country: str,
        prefix: str,
        first: int,
        kept: Kept | None = None,
    ) -> int:
        """Writes the parts of ``numbers`` (distinct, all of ``country``): the number at index ``i`` gets
        ids from ``first + i × (parts + 1)``; ``kept``: written kept. Returns how many recipients were
        written."""
        if not numbers:
            return 0
        table, rn = listed(conn.dialect, numbers)
        number = table.c.value
        blocked = contacts.alias("blocked")
        where = [
            ~sa.exists().where(
                blocked.c.account_id == self._account_id,
                blocked.c.mobile == number,
                blacklist.c.contact_id == blocked.c.id,
                blacklist.c.service == self._service,
            )
        ]
        values = {"to": number, "country": sa.literal(country, messages.c.country.type)}
        if kept is not None:
            values["lease_until"] = sa.literal(kept.lease_until, messages.c.lease_until.type)
            values["attempts"] = sa.literal(1, messages.c.attempts.type)
            values["price"] = sa.literal(kept.price, messages.c.price.type)
        return self._write(conn, table, rn, values, where, prefix, first, durable=kept is not None)


class GroupPartInserter(_PartInserter):
    """Writes the parts of one group's members, chunk by chunk, in the caller's transaction.

    ``earlier``: the ids of the campaign's groups before this one (their members are left to them);
    ``excluded``: numbers that are recipients already (the campaign's ``to`` and ``contacts``);
    ``service``: members blacklisted for it are left out; ``shared``: the values every part of the
    campaign has (the columns ``CampaignPartWriter`` shares); ``groups``: the parts' ``groups`` value.
    """

    def __init__(
        self,
        dialect: Dialect,
        account_id: str,
        group_id: int,
        *,
        earlier: Sequence[int],
        excluded: Sequence[str],
        service: str,
        parts: int,
        groups: str,
        shared: Mapping[str, Any],
    ) -> None:
        super().__init__(dialect, account_id, service=service, parts=parts, groups=groups, shared=shared)
        self._group_id = group_id
        self._earlier = tuple(earlier)
        self._excluded = tuple(excluded)

    def chunk_end(self, conn: Connection, after: str, size: int) -> str | None:
        """The contact id of the ``size``-th member after ``after``; ``None`` when fewer are left."""
        key, where = self._source()
        return conn.execute(
            sa.select(key).where(*where, key > after).order_by(key).offset(size - 1).limit(1)
        ).scalar_one_or_none()

    def without_country(
        self, conn: Connection, after: str, upto: str | None, size: int
    ) -> list[tuple[int, str]]:
        """(number in the chunk, mobile) of the chunk's recipients whose contact stores no country and that
        ``insert`` leaves out (PostgreSQL; on SQLite it places them itself: none)."""
        if not self._postgres:
            return []
        numbered, where = self._chunk(after, upto, size)
        rows = conn.execute(
            sa.select(numbered.c.rn, contacts.c.mobile)
            .select_from(numbered.join(contacts, contacts.c.id == numbered.c.contact_id))
            .where(*where, contacts.c.country.is_(None))
        ).all()
        return [(int(rn), str(mobile)) for rn, mobile in rows]

    def insert(
        self,
        conn: Connection,
        after: str,
        upto: str | None,
        size: int,
        prefix: str,
        first: int,
        kept: KeptByCountry | None = None,
    ) -> int:
        """Writes the parts of the chunk's recipients (on PostgreSQL those whose contact stores a country);
        ``kept``: written kept. Returns how many recipients."""
        numbered, where = self._chunk(after, upto, size)
        source = numbered.join(contacts, contacts.c.id == numbered.c.contact_id)
        country: sa.ColumnElement[str] = contacts.c.country
        if self._postgres:
            where.append(contacts.c.country.is_not(None))
        else:
            driver: Any = conn.connection.driver_connection  # sqlite3.Connection
            driver.create_function(_REGION_OF, 1, region_of, deterministic=True)
            country = sa.func.coalesce(contacts.c.country, getattr(sa.func, _REGION_OF)(contacts.c.mobile))
        values = {"to": contacts.c.mobile, "country": country}
        if kept is not None:
            values["lease_until"] = sa.literal(kept.lease_until, messages.c.lease_until.type)
            values["attempts"] = sa.literal(1, messages.c.attempts.type)
            values["price"] = self._price_of(country, kept)
        durable = kept is not None
        return self._write(conn, source, numbered.c.rn, values, where, prefix, first, durable=durable)

    def _price_of(self, country: sa.ColumnElement[str], kept: KeptByCountry) -> sa.ColumnElement[Any]:
        """The part price of ``country`` in micro-units (what `Money` stores), from ``kept``'s tariff given
        as one JSON parameter."""
        money = messages.c.price.type
        assert isinstance(money, Money)
        micros = {iso: money.process_bind_param(price, self._dialect) for iso, price in kept.tariff.items()}
        tariff = sa.literal(orjson.dumps(micros).decode(), sa.Text())
        fallback = sa.literal(money.process_bind_param(kept.fallback, self._dialect), sa.BigInteger())
        found: sa.ColumnElement[Any]
        if self._postgres:
            found = sa.cast(sa.cast(tariff, postgresql.JSONB).op("->>")(country), sa.BigInteger())
        else:
            found = sa.func.json_extract(tariff, sa.literal('$."').concat(country).concat('"'))
        return sa.func.coalesce(found, fallback)

    # --- the statement's parts ---------------------------------------------------------------------

    def _source(self) -> tuple[sa.ColumnElement[str], list[sa.ColumnElement[bool]]]:
        """The group's member ids (a key to order and range by) and what makes a row a member."""
        if self._group_id > 0:
            return group_members.c.contact_id, [group_members.c.group_id == self._group_id]
        member = contacts.alias("member")
        where = [member.c.account_id == self._account_id]
        if self._group_id == NOT_LISTED_GROUP_ID:
            where.append(~sa.exists().where(group_members.c.contact_id == member.c.id))
        elif self._group_id != ALL_GROUP_ID:
            where.append(sa.false())
        return member.c.id, where

    def _chunk(
        self, after: str, upto: str | None, size: int
    ) -> tuple[sa.Subquery, list[sa.ColumnElement[bool]]]:
        """The chunk's members numbered in id order (at most ``size``), and the conditions on ``contacts``
        that make a member a recipient. The id range is repeated on ``contacts`` so that PostgreSQL can
        merge-join both ranges in order rather than scan every contact."""
        key, source = self._source()
        ranged = [key > after] + ([key <= upto] if upto is not None else [])
        numbered = (
            sa.select(key.label("contact_id"), sa.func.row_number().over(order_by=key).label("rn"))
            .where(*source, *ranged)
            .order_by(key)
            .limit(size)
            .subquery("numbered")
        )
        within = [contacts.c.id > after] + ([contacts.c.id <= upto] if upto is not None else [])
        where = [
            contacts.c.account_id == self._account_id,
            *within,
            self._not_blacklisted(contacts.c.id),
            *self._not_earlier(after, upto),
        ]
        if self._excluded:
            where.append(contacts.c.mobile.not_in(self._excluded_numbers()))
        return numbered, where

    def _not_earlier(self, after: str, upto: str | None) -> list[sa.ColumnElement[bool]]:
        """Members of an earlier group of the campaign are that group's recipients."""
        if ALL_GROUP_ID in self._earlier:
            return [sa.false()]
        where: list[sa.ColumnElement[bool]] = []
        real = sorted(g for g in self._earlier if g > 0)
        if real:
            other = group_members.alias("earlier")
            ranged = [other.c.contact_id > after] + ([other.c.contact_id <= upto] if upto is not None else [])
            where.append(
                ~sa.exists().where(other.c.group_id.in_(real), other.c.contact_id == contacts.c.id, *ranged)
            )
        if NOT_LISTED_GROUP_ID in self._earlier:  # NotListed holds the contacts in no group
            where.append(sa.exists().where(group_members.c.contact_id == contacts.c.id))
        return where

    def _excluded_numbers(self) -> sa.Select[tuple[str]]:
        """The excluded numbers as a one-column SELECT bound as one JSON parameter (``driver.listed``)."""
        table, _ = listed(self._dialect, self._excluded)
        return sa.select(table.c.value)
