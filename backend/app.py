"""The Starlette application: ``/graphql`` plus a health check, with the runtime in its lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from backend.clock import Clock
from backend.config import Settings, load_settings
from backend.graphql.view import XuejiGraphQL
from backend.http.attachments import attachment_endpoints
from backend.http.monitoring import login_compliance_download
from backend.http.sheets import sheet_endpoints
from backend.jobs import Scheduler
from backend.realtime.frames import DirectFrameProtocol
from backend.runtime import Runtime

# How uvicorn should serve our sockets. The Sans-I/O implementation keeps no task of its own per connection
# (pings run on timers), extended with a direct path for live frames (``realtime.frames``), and
# per-message deflate is off: frames are a few hundred bytes of JSON, not worth
# two zlib contexts per socket (tens of kilobytes each) and the CPU to fill them. Keep-alive pings every 45 s
# (uvicorn's 20 s costs 500 pings a second at 10,000 sockets) stay under proxies' usual 60 s idle limit.
WEBSOCKET_OPTIONS: dict[str, Any] = {
    "ws": DirectFrameProtocol,
    "ws_per_message_deflate": False,
    "ws_ping_interval": 45.0,
}


def settle_memory() -> None:
    """Keep what the server loaded at start (modules, the schema) out of every later garbage collection.

    With ten thousand sockets open the collector's full passes already walk millions of objects; the
    startup heap need not be walked again each time. A larger first generation means fewer passes while
    an event is fanned out (each delivery allocates a few short-lived objects).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Starlette:
    runtime = Runtime.build(settings or load_settings(), clock)
    graphql = XuejiGraphQL(runtime)
    upload, download = attachment_endpoints(runtime)
    export, template, registration_template = sheet_endpoints(runtime)

    async def health(_: Request) -> JSONResponse:
        try:
            async with runtime.db.read_session() as session:
                await session.execute(text("SELECT 1"))
            database = "ok"
        except Exception:  # noqa: BLE001 - health reports, it does not raise
            database = "unavailable"
        # Without the broadcast the server still works (subscribers catch up by polling): degraded, not down.
        broadcast = "ok" if runtime.hub.healthy else "degraded"
        return JSONResponse(
            {
                "database": database,
                "broadcast": broadcast,
                "broadcastOutages": runtime.hub.outages,
                "liveSubscriptions": runtime.feed.subscriptions,
            },
            status_code=200 if database == "ok" else 503,
        )

    scheduler = Scheduler(runtime)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        settle_memory()
        if runtime.settings.scheduler_enabled:
            scheduler.start()
        try:
            yield
        finally:
            await scheduler.stop()
            await runtime.stop()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", health),
            Route("/attachments", upload, methods=["POST"]),
            Route("/attachments/{attachment_id}", download, methods=["GET"]),
            Route("/continuation/template", template, methods=["GET"]),
            Route("/continuation/{import_id}/export", export, methods=["GET"]),
            Route("/registration/template", registration_template, methods=["GET"]),
            Route("/monitoring/login-compliance.xlsx", login_compliance_download(runtime), methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
