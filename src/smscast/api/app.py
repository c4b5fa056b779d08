"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from smscast import __version__
from smscast.api.errors import install_error_handlers
from smscast.api.metrics import Metrics, MetricsMiddleware
from smscast.api.middleware import IMPORT_PATHS, BodyLimitMiddleware, SecurityHeadersMiddleware
from smscast.api.openapi import install_error_documentation
from smscast.api.routes import account, campaigns, contacts, groups, messages, oauth, system, tracking
from smscast.bootstrap import Container
from smscast.web import mount_dashboard


class _HardenedFastAPI(FastAPI):
    """FastAPI with the security headers outside every other layer, so that the 500 answered by
    Starlette's outermost error middleware carries them too."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack())


def create_app(container: Container) -> FastAPI:
    """An app serving ``container``'s services; the caller owns the container's lifetime."""
    app = _HardenedFastAPI(
        title="smscast",
        version=__version__,
        description="Self-hosted SMS campaign server speaking Routee's SMS API.",
    )
    app.state.container = container
    metrics = Metrics()
    app.state.metrics = metrics
    install_error_handlers(app)
    install_error_documentation(app)
    for module in (system, oauth, account, campaigns, messages, tracking, contacts, groups):
        app.include_router(module.router)
    mount_dashboard(app)
    settings = container.settings
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        path_limits=dict.fromkeys(IMPORT_PATHS, settings.max_import_bytes),
    )
    # Added last, so outermost of these two: 413s are counted.
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
