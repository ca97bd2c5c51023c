"""Redis killed in the middle of a burst: writes go on, and every subscriber ends with every event, once.

Two server processes share one database and a Redis of the test's own (so it can be killed without
disturbing anything else): process A commits 1,000 notifications, one transaction each, to five users;
their subscriptions live on process B, over real sockets. A third of the way in, Redis is killed with
SIGKILL; at two thirds it is started again. Process A's writes must all succeed meanwhile, and B's hub
must notice the outage, reconnect and make its subscriptions read what they missed.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from backend.app import create_app
from backend.clock import FixedClock
from backend.config import Settings
from backend.domain.notifications.log import NotificationKind, notify_users
from backend.runtime import Runtime
from tests.api import LOGIN
from tests.realtime.test_websocket import SUBPROTOCOL, _free_port, serving

BURST = 1_000
USERS = ("2134010401-reg", "2134010401-lead", "2134010402-reg", "2134010402-lead", "2134010403-reg")
FEED = "subscription($after: Int!) { notifications(after: $after) { seq payload } }"


class PrivateRedis:
    """A redis-server on a free port that the test may kill and start again on the same port."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for this test (it is installed wherever CI runs)"
        self.binary, self.port = binary, _free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *(
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return
        raise AssertionError("redis-server did not start")

    async def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
            self.process = None


@pytest.fixture
async def redis() -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis()
    await server.start()
    try:
        yield server
    finally:
        await server.kill()


@pytest.fixture
async def process_b(
    api_settings: Settings, clock: FixedClock, redis: PrivateRedis
) -> AsyncIterator[tuple[str, Runtime]]:
    """A served app (its address, and its runtime to ask its hub what it went through)."""
    app = create_app(replace(api_settings, broadcast_url=redis.url), clock)
    async with serving(app) as address:
        yield address, app.state.runtime


@pytest.fixture
async def process_a(api_settings: Settings, clock: FixedClock, redis: PrivateRedis) -> AsyncIterator[Runtime]:
    runtime = Runtime.build(replace(api_settings, broadcast_url=redis.url), clock)
    await runtime.start()
    yield runtime
    await runtime.stop()


async def _sign_in(base: str, username: str) -> tuple[str, int, int]:
    """The user's token, id and highest notification number so far."""
    async with httpx.AsyncClient(base_url=f"http://{base}") as client:
        login = await client.post(
            "/graphql", json={"query": LOGIN, "variables": {"username": username, "password": "Xueji@2026"}}
        )
        token = login.json()["data"]["login"]["token"]
        me = await client.post(
            "/graphql",
            json={"query": "{ me { user { id } } notifications { seq } }"},
            headers={"authorization": f"Bearer {token}"},
        )
    data = me.json()["data"]
    return token, int(data["me"]["user"]["id"]), max([n["seq"] for n in data["notifications"]], default=0)


async def _subscribe(base: str, token: str, after: int) -> ClientConnection:
    ws = await connect(f"ws://{base}/graphql", subprotocols=[SUBPROTOCOL])
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
    await ws.send(
        json.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": FEED, "variables": {"after": after}}}
        )
    )
    return ws


async def _collect(ws: ClientConnection, last: int) -> list[dict[str, Any]]:
    """Every notification the socket streams until number ``last``."""
    got: list[dict[str, Any]] = []
    while not got or got[-1]["seq"] < last:
        message = json.loads(await asyncio.wait_for(ws.recv(), 60))
        assert message["type"] == "next", message
        got.append(message["payload"]["data"]["notifications"])
    return got


async def test_killing_redis_mid_burst_loses_and_duplicates_nothing(
    process_a: Runtime, process_b: tuple[str, Runtime], redis: PrivateRedis
) -> None:
    # RULES: MON-1 — nobody misses an item because Redis restarted
    address, runtime_b = process_b
    accounts = [await _sign_in(address, username) for username in USERS]
    sockets = [await _subscribe(address, token, after) for token, _, after in accounts]
    collectors = [
        asyncio.create_task(_collect(ws, after + BURST))
        for ws, (_, _, after) in zip(sockets, accounts, strict=True)
    ]
    await asyncio.sleep(0.3)  # every subscription is live on process B
    try:
        for n in range(1, BURST + 1):
            if n == BURST // 3:
                await redis.kill()
            if n == 2 * BURST // 3:
                await redis.start()
            async with process_a.unit_of_work() as uow:  # commits although Redis is gone
                await notify_users(
                    uow, [user_id for _, user_id, _ in accounts], NotificationKind.MESSAGE, {"n": n}
                )
        received = await asyncio.wait_for(asyncio.gather(*collectors), 90)
    finally:
        for ws in sockets:
            await ws.close()

    # Both processes lost Redis and are connected again.
    hub_b = runtime_b.hub
    assert (process_a.hub.outages, hub_b.outages) == (1, 1)
    assert process_a.hub.healthy and hub_b.healthy
    for (_, _, after), got in zip(accounts, received, strict=True):
        assert [item["seq"] for item in got] == list(range(after + 1, after + BURST + 1))
        assert [item["payload"]["n"] for item in got] == list(range(1, BURST + 1))
