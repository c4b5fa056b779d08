"""Start-up of a campaign to one big group: from ``Queued`` to every message row written and ``Running``.

Setup (not timed): a fresh database, one account, ``-n`` contacts (Greek mobiles, first names) put into
one group by a bulk insert straight through the driver (``executemany`` on SQLite, ``COPY`` on
PostgreSQL), and a ``Queued`` campaign to that group inserted as the API would store it.

Measured: a fresh child process (the process that does the expansion, like a worker) builds the
container and calls ``CampaignStarter.expand_next()`` once. It reports the wall time of that call, the
recipients per second, and its peak RSS (``VmHWM`` from ``/proc/self/status``, imports included).
Afterwards the parent checks that ``-n`` rows exist and the campaign is ``Running``.

Targets: ≥ 100,000 recipients/s and peak RSS ≤ 300 MB for 1,000,000 contacts.

    .venv/bin/python bench/bench_campaign_start.py [-n 1000000] [--databases sqlite,postgresql]
        [--personalised]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import peak_rss_mb, postgres_available, print_json_line, scratch_database  # noqa: E402

PLAIN_BODY = "ACME autumn sale: 20% off everything until Sunday. Reply STOP to opt out."
PERSONAL_BODY = "Hi [~firstName], ACME autumn sale: 20% off until Sunday. Reply STOP to opt out."
NAMES = ("Maria", "Giorgos", "Eleni", "Nikos", "Katerina", "Dimitris", "Sofia", "Yannis")


def setup(url: str, n: int, personalised: bool) -> tuple[str, str]:
    """Migrate, create the account, seed ``n`` contacts into group ``big`` and a Queued campaign to it.
    Returns (account id, campaign tracking id)."""
    from smscast.bootstrap import build_container, migrate
    from smscast.db.campaigns import CampaignRepository, CampaignWrite
    from smscast.domain.campaigns import CampaignDefinition, CampaignState
    from smscast.settings import Settings

    container = build_container(Settings(database_url=url))
    try:
        migrate(container)
        account = container.accounts.create_account("bench", Decimal(10_000_000))
        seed_group(container.db.engine, account.account_id, n)
        definition = CampaignDefinition(
            body=PERSONAL_BODY if personalised else PLAIN_BODY,
            sender="ACME",
            groups=("big",),
            name="big start",
            fallback_values={"firstName": "friend"} if personalised else {},
        )
        tracking_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        with container.db.write() as conn:
            CampaignRepository(conn).insert(
                tracking_id,
                account.account_id,
                account.application_id,
                CampaignWrite(
                    name=definition.name,
                    state=CampaignState.QUEUED,
                    scheduled_date=None,
                    definition=json.dumps(definition.to_json(), separators=(",", ":")),
                    analysis="{}",
                    total_messages=n,
                    cost=Decimal(n) * Decimal("0.042"),
                ),
                now,
            )
        return account.account_id, tracking_id
    finally:
        container.close()


def seed_group(engine: sa.Engine, account_id: str, n: int) -> None:
    """``n`` contacts of ``account_id`` and group ``big`` holding them all, through the raw driver."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        group_id = conn.execute(
            sa.text(
                "INSERT INTO groups (account_id, name, strategy, filters, created_at) "
                "VALUES (:a, 'big', 'None', NULL, :now) RETURNING id"
            ),
            {"a": account_id, "now": now if engine.dialect.name == "sqlite" else now.replace(tzinfo=UTC)},
        ).scalar_one()
    ids = [f"{i:024x}" for i in range(1, n + 1)]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            stamp = now.isoformat(sep=" ")
            cursor.execute("BEGIN")
            cursor.executemany(
                "INSERT INTO contacts (id, account_id, mobile, first_name, country, vip, created_at) "
                "VALUES (?, ?, ?, ?, 'GR', 0, ?)",
                (
                    (cid, account_id, f"+30694{i:07d}", NAMES[i % len(NAMES)], stamp)
                    for i, cid in enumerate(ids)
                ),
            )
            cursor.executemany(
                "INSERT INTO group_members (group_id, contact_id) VALUES (?, ?)",
                ((group_id, cid) for cid in ids),
            )
            cursor.execute("COMMIT")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as the CHECKPOINT below, for SQLite's WAL
        else:
            stamp = now.isoformat(sep=" ") + "+00"
            buffer = io.StringIO()
            for i, cid in enumerate(ids):
                buffer.write(f"{cid}\t{account_id}\t+30694{i:07d}\t{NAMES[i % len(NAMES)]}\tGR\tf\t{stamp}\n")
            with cursor.copy(  # type: ignore[attr-defined]
                "COPY contacts (id, account_id, mobile, first_name, country, vip, created_at) FROM STDIN"
            ) as copy:
                copy.write(buffer.getvalue())
            buffer = io.StringIO()
            for cid in ids:
                buffer.write(f"{group_id}\t{cid}\n")
            with cursor.copy("COPY group_members (group_id, contact_id) FROM STDIN") as copy:  # type: ignore[attr-defined]
                copy.write(buffer.getvalue())
            raw.commit()
            cursor.execute("ANALYZE")
            raw.commit()
            # The seeding's write-ahead log is written out now, not during the timed expansion: a group of a
            # million contacts is imported long before a campaign to it starts. (Without it the expansion
            # ran at 77,000-122,000/s depending on when the server's checkpoint fell.)
            cursor.execute("CHECKPOINT")
            raw.commit()
    finally:
        raw.close()


def expand(url: str) -> None:
    """Child process: one ``expand_next()``; prints its figures as JSON."""
    from smscast.bootstrap import build_container
    from smscast.settings import Settings

    container = build_container(Settings(database_url=url))
    started = time.perf_counter()
    tracking_id = container.starter.expand_next()
    seconds = time.perf_counter() - started
    container.close()
    print(json.dumps({"tracking_id": tracking_id, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}))


def bench_database(kind: str, n: int, personalised: bool) -> dict[str, float]:
    with scratch_database(kind) as url:
        started = time.perf_counter()
        _, tracking_id = setup(url, n, personalised)
        setup_s = time.perf_counter() - started
        child = subprocess.run(
            [sys.executable, __file__, "--expand", url], check=False, capture_output=True, text=True
        )
        if child.returncode != 0:
            raise RuntimeError(f"expansion failed:\n{child.stderr[-3000:]}")
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        if figures["tracking_id"] != tracking_id:
            raise RuntimeError(f"expanded {figures['tracking_id']}, expected {tracking_id}")
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT count(*) FROM messages WHERE campaign_id = :c"), {"c": tracking_id}
            ).scalar_one()
            state = conn.execute(
                sa.text("SELECT state FROM campaigns WHERE tracking_id = :c"), {"c": tracking_id}
            ).scalar_one()
        engine.dispose()
    if rows != n or state != "Running":
        raise RuntimeError(f"after expansion: {rows} rows (expected {n}), state {state}")
    rate = n / figures["seconds"]
    body = "personalised" if personalised else "plain"
    print(f"{kind}: {n:,} contacts in one group, {body} body (setup {setup_s:.0f} s, not timed)")
    print(
        f"  Queued → Running with {rows:,} rows: {figures['seconds']:.2f} s = {rate:,.0f} recipients/s "
        f"(target ≥ 100,000: {'met' if rate >= 100_000 else 'MISSED'})"
    )
    rss = figures["peak_rss_mb"]
    verdict = "met" if rss <= 300 else "MISSED"
    print(f"  peak RSS of the expanding process: {rss:.0f} MB (target ≤ 300 MB: {verdict})")
    return {"seconds": figures["seconds"], "rate": rate, "peak_rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--personalised", action="store_true")
    parser.add_argument("--expand", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.expand:
        expand(args.expand)
        return
    for kind in args.databases.split(","):
        if kind == "postgresql" and not postgres_available():
            print("postgresql: unreachable, skipped")
            continue
        figures = bench_database(kind, args.n, args.personalised)
        print_json_line(
            {"bench": "campaign_start", "database": kind, "n": args.n, "personalised": args.personalised}
            | figures
        )


if __name__ == "__main__":
    main()
