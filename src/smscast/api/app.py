"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from smscast import __version__
from smscast.api.errors import install_error_handlers
from smscast.api.metrics import Metrics, MetricsMiddleware
from smscast.api.routes import account, campaigns, contacts, groups, messages, oauth, system, tracking
from smscast.bootstrap import Container
from smscast.web import mount_dashboard


def create_app(container: Container) -> FastAPI:
    """An app serving ``container``'s services; the caller owns the container's lifetime."""
    app = FastAPI(
        title="smscast",
        version=__version__,
        description="Self-hosted SMS campaign server speaking Routee's SMS API.",
    )
    app.state.container = container
    metrics = Metrics()
    app.state.metrics = metrics
    install_error_handlers(app)
    for module in (system, oauth, account, campaigns, messages, tracking, contacts, groups):
        app.include_router(module.router)
    mount_dashboard(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
