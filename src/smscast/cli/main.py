"""``smscast serve | worker | migrate | accounts … | prices …``."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from smscast.bootstrap import Container, build_container, migrate
from smscast.domain.errors import DomainError
from smscast.logging_redaction import install_log_redaction
from smscast.services.accounts import parse_amount
from smscast.settings import Settings, SettingsError

app = typer.Typer(
    help="smscast: a self-hosted SMS campaign server speaking Routee's SMS API.", no_args_is_help=True
)
accounts_app = typer.Typer(help="Create accounts and add credit.", no_args_is_help=True)
prices_app = typer.Typer(help="Manage the price table.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(prices_app, name="prices")


def _container() -> Container:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        typer.echo(f"smscast: bad setting: {exc}", err=True)
        raise typer.Exit(2) from None
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_log_redaction()
    return build_container(settings)


def _fail(exc: DomainError) -> typer.Exit:
    typer.echo(
        json.dumps(
            {
                "code": exc.code,
                "developerMessage": exc.message,
                **({"properties": exc.properties} if exc.properties else {}),
            }
        ),
        err=True,
    )
    return typer.Exit(1)


@app.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date (and load the default price table if none is loaded)."""
    container = _container()
    try:
        migrate(container)
    finally:
        container.close()
    typer.echo("database is up to date")


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8080,
    workers: Annotated[bool, typer.Option("--workers/--no-workers", help="Run the engine loops too")] = True,
) -> None:
    """Serve the API (and, by default, the scheduler, dispatcher and callback sender) in one process."""
    from smscast.server import serve

    container = _container()
    try:
        if container.settings.is_sqlite:
            migrate(container)
        serve(container, host=host, port=port, run_engine=workers)
    finally:
        container.close()


@app.command("worker")
def worker_command() -> None:
    """Run the scheduler, dispatcher and callback sender only (scale-out beside API processes)."""
    from smscast.server import run_worker

    container = _container()
    try:
        run_worker(container)
    finally:
        container.close()


@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Option(help="Account name")],
    balance: Annotated[str, typer.Option(help="Opening credit")] = "0",
    currency: Annotated[str, typer.Option(help="Currency code")] = "EUR",
    scopes: Annotated[str | None, typer.Option(help="Scopes of the application (default: all)")] = None,
) -> None:
    """Create an account and its first application; prints the credentials as JSON."""
    container = _container()
    try:
        new = container.accounts.create_account(name, parse_amount(balance, "balance"), currency, scopes)
    except DomainError as exc:
        raise _fail(exc) from None
    finally:
        container.close()
    typer.echo(
        json.dumps(
            {
                "accountId": new.account_id,
                "applicationId": new.application_id,
                "applicationSecret": new.application_secret,
            }
        )
    )


@accounts_app.command("topup")
def accounts_topup(account_id: str, amount: str) -> None:
    """Add credit to an account, as a ledger transaction."""
    container = _container()
    try:
        row = container.accounts.top_up(account_id, parse_amount(amount))
    except DomainError as exc:
        raise _fail(exc) from None
    finally:
        container.close()
    typer.echo(json.dumps({"transactionId": row.id, "balance": float(row.balance_after)}))


@prices_app.command("load")
def prices_load(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    currency: Annotated[str, typer.Option(help="Currency of the prices")] = "EUR",
) -> None:
    """Replace the price table with FILE (CSV: mcc,mnc,iso,country,network,price)."""
    container = _container()
    try:
        count = container.prices.load(file.read_text(encoding="utf-8"), currency.upper())
    except DomainError as exc:
        raise _fail(exc) from None
    finally:
        container.close()
    typer.echo(json.dumps({"loaded": count}))


def main() -> None:
    app(prog_name="smscast")


if __name__ == "__main__":
    main()
    sys.exit(0)
