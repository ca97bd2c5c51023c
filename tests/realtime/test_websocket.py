"""The websocket path end to end: a real uvicorn server, a real graphql-transport-ws client."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from backend.app import WEBSOCKET_OPTIONS, create_app
from backend.clock import FixedClock
from backend.config import Settings
from backend.domain.accounts.service import hash_token
from backend.models import AuthSession
from backend.runtime import Runtime
from tests.api import LOGIN, SCHOOL_REGISTRAR

SUBPROTOCOL = "graphql-transport-ws"
# The running server's runtime, kept on the test item: ``live_url`` stays the one fixture other modules
# import, and ``live_runtime`` finds it there without a fixture of its own that they would have to import.
LIVE_RUNTIME = pytest.StashKey[Runtime]()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    """``app`` served by uvicorn as ``xueji serve`` serves it, on a free loopback port; yields the address."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **WEBSOCKET_OPTIONS
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def live_url(
    api_settings: Settings, clock: FixedClock, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    settings = replace(api_settings, allowed_origins=("https://spa.example.cn",))
    app = create_app(settings, clock)
    request.node.stash[LIVE_RUNTIME] = app.state.runtime
    async with serving(app) as address:
        yield address


@pytest.fixture
def live_runtime(live_url: str, request: pytest.FixtureRequest) -> Runtime:
    """The ``Runtime`` of the server at ``live_url``: what it commits wakes its own subscriptions."""
    stash: pytest.Stash = request.node.stash
    return stash[LIVE_RUNTIME]


async def _login(base: str) -> str:
    async with httpx.AsyncClient(base_url=f"http://{base}") as client:
        response = await client.post(
            "/graphql",
            json={"query": LOGIN, "variables": {"username": SCHOOL_REGISTRAR, "password": "Xueji@2026"}},
        )
    token = response.json()["data"]["login"]["token"]
    assert isinstance(token, str)
    return token


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert isinstance(message, dict)
    return message


async def test_server_time_streams_to_an_authenticated_socket(live_url: str) -> None:
    token = await _login(live_url)

    async with connect(f"ws://{live_url}/graphql", subprotocols=[SUBPROTOCOL]) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert (await _receive(ws))["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": "subscription { serverTime(count: 2) }"},
                }
            )
        )
        first, second, done = await _receive(ws), await _receive(ws), await _receive(ws)

    assert first["type"] == second["type"] == "next"
    assert first["payload"]["data"]["serverTime"] == "2026-11-25T10:00:00+08:00"  # Beijing time at the edge
    assert done == {"id": "1", "type": "complete"}


async def test_socket_without_a_valid_token_is_rejected(live_url: str) -> None:
    async with connect(f"ws://{live_url}/graphql", subprotocols=[SUBPROTOCOL]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer forged"}}))
        with pytest.raises(ConnectionClosed) as closed:
            await _receive(ws)

    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_subscribing_before_connection_init_is_refused(live_url: str) -> None:
    async with connect(f"ws://{live_url}/graphql", subprotocols=[SUBPROTOCOL]) as ws:
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "subscription { serverTime }"}})
        )
        with pytest.raises(ConnectionClosed) as closed:
            await _receive(ws)

    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_revoked_session_ends_the_subscription(live_url: str) -> None:
    token = await _login(live_url)

    async with connect(f"ws://{live_url}/graphql", subprotocols=[SUBPROTOCOL]) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        await _receive(ws)
        await ws.send(
            json.dumps({"id": "7", "type": "subscribe", "payload": {"query": "subscription { serverTime }"}})
        )
        assert (await _receive(ws))["type"] == "next"
        async with httpx.AsyncClient(base_url=f"http://{live_url}") as client:
            logout = await client.post(
                "/graphql",
                json={"query": "mutation { logout { ok } }"},
                headers={"authorization": f"Bearer {token}"},
            )
        assert logout.json() == {"data": {"logout": {"ok": True}}}
        message = await _receive(ws)
        while "errors" not in message["payload"]:  # a tick already on its way
            message = await _receive(ws)
        done = await _receive(ws)

    assert message["type"] == "next"
    assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == ["UNAUTHENTICATED"]
    assert done == {"id": "7", "type": "complete"}


async def test_legacy_graphql_ws_protocol_is_not_offered(live_url: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - the handshake itself must fail
        async with connect(f"ws://{live_url}/graphql", subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            await _receive(ws)


async def test_foreign_origin_is_refused(live_url: str) -> None:
    token = await _login(live_url)
    with pytest.raises(Exception):  # noqa: B017 - the handshake is refused
        async with connect(
            f"ws://{live_url}/graphql",
            subprotocols=[SUBPROTOCOL],
            origin="https://evil.example.com",  # type: ignore[arg-type]
        ) as ws:
            await ws.send(
                json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
            )
            await _receive(ws)
    async with connect(
        f"ws://{live_url}/graphql",
        subprotocols=[SUBPROTOCOL],
        origin="https://spa.example.cn",  # type: ignore[arg-type]
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert (await _receive(ws))["type"] == "connection_ack"


async def test_opening_a_socket_does_not_count_as_activity(
    live_url: str, live_runtime: Runtime, clock: FixedClock
) -> None:
    # SEC idle timeout: sockets reconnect by themselves, so they must not keep an idle session alive
    token = await _login(live_url)
    clock.advance(timedelta(minutes=5))  # long past the 30 s after which a request records activity
    async with connect(f"ws://{live_url}/graphql", subprotocols=[SUBPROTOCOL]) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert (await _receive(ws))["type"] == "connection_ack"
    async with live_runtime.db.read_session() as session:
        seen = await session.scalar(
            select(AuthSession.last_seen_at).where(AuthSession.token_hash == hash_token(token))
        )
    assert seen == clock.now() - timedelta(minutes=5)
