"""The web dashboard under ``/ui``: server-rendered pages over the same services as the API.

``mount_dashboard(app)`` adds its routes and static files to the API application; nothing happens at
import time.
"""

from __future__ import annotations

from collections import OrderedDict

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from smscast.web.pages import auth, campaigns, contacts
from smscast.web.rendering import STATIC_DIR, build_environment
from smscast.web.session import UI_PREFIX


class _StaticFiles(StaticFiles):
    """Static files with the headers the pages have; vendored files carry their version in their name."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
        return response


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard from ``app`` (which must hold the service container in ``app.state``)."""
    app.state.dashboard_templates = build_environment()
    app.state.dashboard_timelines = OrderedDict()
    for module in (auth, campaigns, contacts):
        app.include_router(module.router)
    app.mount(f"{UI_PREFIX}/static", _StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.include_router(auth.fallback_router)
