"""Helpers the benchmarks share: scratch databases, a real ``smscast serve``, tokens, peak RSS.

Not a benchmark itself (``run_all.py`` runs the ``bench_*.py`` files).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN_URL = os.environ.get(
    "SMSCAST_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_mb(pid: int | str = "self") -> float:
    """The process's peak resident set (``VmHWM``) in MB (10⁶ bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError("no VmHWM in /proc/status")


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User + system CPU time consumed so far by process ``pid`` (all its threads) and, unless
    ``children=False``, its live child processes (the SMPP carrier process of ``smscast serve``)."""
    if not children:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
    return total


def reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0: write 5 to clear_refs), so a later reading measures
    one phase only."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


@contextlib.contextmanager
def scratch_database(kind: str) -> Iterator[str]:
    """A fresh, empty database URL of ``kind`` (``sqlite`` or ``postgresql``), removed afterwards."""
    if kind == "sqlite":
        workdir = Path(tempfile.mkdtemp(prefix="smscast-bench-"))
        try:
            yield f"sqlite:///{workdir / 'bench.db'}"
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return
    if kind != "postgresql":
        raise ValueError(f"unknown database kind {kind!r}")
    name = f"smscast_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def postgres_available() -> bool:
    try:
        engine = sa.create_engine(POSTGRES_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except sa.exc.OperationalError:
        return False


def postgres_rounds(doc: str | None) -> int | None:
    """``--rounds`` (default 3) from the command line of a PostgreSQL-only benchmark described by ``doc``;
    None, having said so, when PostgreSQL is not reachable."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds: int = parser.parse_args().rounds
    if not postgres_available():
        print("PostgreSQL is not reachable: nothing measured")
        return None
    return rounds


def alternate_in_postgres(
    variants: Sequence[str], rounds: int, measure: Callable[[str, str], Mapping[str, float]]
) -> dict[str, dict[str, float]]:
    """``measure(url, variant)`` in a fresh PostgreSQL scratch database, each variant in turn, ``rounds``
    times (so a change in the machine's load touches all alike); the median of each figure per variant."""
    figures: dict[str, dict[str, list[float]]] = {variant: {} for variant in variants}
    for _ in range(rounds):
        for variant in variants:
            with scratch_database("postgresql") as url:
                for what, value in measure(url, variant).items():
                    figures[variant].setdefault(what, []).append(value)
    return {
        variant: {what: statistics.median(values) for what, values in by_what.items()}
        for variant, by_what in figures.items()
    }


def smscast_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSCAST_")}
    env["SMSCAST_DATABASE_URL"] = database_url
    env["SMSCAST_LOG_LEVEL"] = "WARNING"
    env["SMSCAST_RATE_LIMIT_PER_S"] = "0"  # the per-application request limit would measure itself
    env.update(extra)
    return env


def smscast(env: Mapping[str, str], *args: str) -> str:
    """Run one ``smscast`` CLI command; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "smscast", *args], env=dict(env), check=False, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"smscast {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


@dataclass
class Credentials:
    account_id: str
    application_id: str
    application_secret: str


def create_account(env: Mapping[str, str], balance: str = "100000000") -> Credentials:
    creds = json.loads(smscast(env, "accounts", "create", "--name", "bench", "--balance", balance))
    return Credentials(creds["accountId"], creds["applicationId"], creds["applicationSecret"])


def token(http: httpx.Client, creds: Credentials) -> str:
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(creds.application_id, creds.application_secret),
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str


@contextlib.contextmanager
def serve(env: Mapping[str, str], *, workers: bool, log_path: Path | None = None) -> Iterator[Server]:
    """``smscast serve`` on a free port until the block ends (SIGTERM, then SIGKILL)."""
    port = free_port()
    args = [sys.executable, "-m", "smscast", "serve", "--port", str(port)]
    if not workers:
        args.append("--no-workers")
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(args, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=base, timeout=5) as http:
            while True:
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"smscast serve did not come up (exit {process.poll()})")
                time.sleep(0.1)
        if os.environ.get("SMSCAST_BENCH_PROFILE"):
            # Sample the server with py-spy (pip install py-spy) for its whole life, as folded stacks.
            py_spy = str(Path(sys.executable).with_name("py-spy"))
            output = os.environ["SMSCAST_BENCH_PROFILE"]
            extra = os.environ.get("SMSCAST_BENCH_PROFILE_ARGS", "").split()  # e.g. --gil
            rate = os.environ.get("SMSCAST_BENCH_PROFILE_RATE", "250")  # samples a second
            command = [py_spy, "record", "--pid", str(process.pid), "-r", rate, "-f", "raw", "-o", output]
            subprocess.Popen(
                [*command, "--threads", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        yield Server(process, base)
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if log_path and hasattr(out, "close"):
            out.close()


def print_json_line(figures: Mapping[str, object]) -> None:
    """The machine-readable result line ``run_all.py`` collects (one per benchmark run)."""
    print("BENCH-JSON " + json.dumps(figures, sort_keys=True))
