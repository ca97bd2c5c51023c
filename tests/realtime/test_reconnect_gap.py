"""A socket dropped in the middle of a burst: back with its cursor, the client gets exactly the gap.

Black box: notifications are committed inside the server process (its ``Runtime``, so that the wake-ups
go out on its own hub, ``memory://`` included) and observed only through the socket; nothing here depends
on what a wake-up says on the hub.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection

from backend.domain.notifications.log import NotificationKind, notify_users
from backend.models import Notification, User
from backend.runtime import Runtime
from tests.api import SCHOOL_REGISTRAR
from tests.realtime.test_live_todo import NOTIFICATIONS, login, subscribe
from tests.realtime.test_websocket import live_runtime, live_url  # noqa: F401 - the fixtures

BURST = 1000
SEEN_BEFORE_DROP = 300
# The burst waits for the drop before committing past this many, and the client stays away until it has
# committed that many: the socket is lost mid-burst however fast either side runs, the gap spans several
# pages of catch-up (the subscription replays 100 at a time), and the rest of the burst commits while the
# client replays and after it has caught up.
HELD_AT = 500
BACK_AT = 750
# Failure timeouts only. Longer than the subscription's poll, so that even a wake-up lost on Redis would
# show up as late, not as a failure.
RECEIVE_TIMEOUT = 60


async def _user_id(runtime: Runtime, username: str) -> int:
    async with runtime.db.read_session() as session:
        user_id = await session.scalar(select(User.id).where(User.username == username))
    assert user_id is not None
    return user_id


async def _highest_seq(runtime: Runtime, user_id: int) -> int:
    async with runtime.db.read_session() as session:
        highest = await session.scalar(
            select(func.max(Notification.seq)).where(Notification.recipient_id == user_id)
        )
    return highest or 0


async def _burst(runtime: Runtime, user_id: int, dropped: asyncio.Event, away: asyncio.Event) -> None:
    """One notification per transaction, as separate operations would commit them (publish after commit)."""
    for n in range(1, BURST + 1):
        if n == HELD_AT + 1:
            await asyncio.wait_for(dropped.wait(), RECEIVE_TIMEOUT)
        async with runtime.unit_of_work() as uow:
            await notify_users(uow, [user_id], NotificationKind.MESSAGE, {"n": n})
        if n == BACK_AT:
            away.set()


async def _next_item(ws: ClientConnection) -> dict[str, Any]:
    """The next ``notifications`` item; the socket may carry nothing else for this subscription."""
    message = json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT))
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    item = message["payload"]["data"]["notifications"]
    assert isinstance(item, dict)
    return item


async def test_a_socket_dropped_mid_burst_gets_exactly_the_gap_after_reconnecting(
    live_url: str,  # noqa: F811
    live_runtime: Runtime,  # noqa: F811
) -> None:
    # RULES: MON-1 — a user misses nothing of what they were told, however their connection fared
    # Given: a signed-in client subscribed from its cursor, and a burst running inside the server
    token = await login(live_url, SCHOOL_REGISTRAR)
    user_id = await _user_id(live_runtime, SCHOOL_REGISTRAR)
    base = await _highest_seq(live_runtime, user_id)
    first = await subscribe(live_url, token, NOTIFICATIONS, {"after": base})
    dropped, away = asyncio.Event(), asyncio.Event()
    burst = asyncio.create_task(_burst(live_runtime, user_id, dropped, away))
    try:
        # When: the socket is lost abruptly (no `complete`, no close frame) after some of the burst
        before = [await _next_item(first) for _ in range(SEEN_BEFORE_DROP)]
        first.transport.abort()
        await first.close()
        dropped.set()
        cursor = before[-1]["seq"]

        # And: the client comes back with the last seq it saw and reads to the end of the burst
        await asyncio.wait_for(away.wait(), RECEIVE_TIMEOUT)
        second = await subscribe(live_url, token, NOTIFICATIONS, {"after": cursor})
        after = [await _next_item(second)]
        while after[-1]["seq"] < base + BURST:
            after.append(await _next_item(second))
        await second.close()
        await asyncio.wait_for(burst, RECEIVE_TIMEOUT)
    finally:
        dropped.set()
        if not burst.done():
            burst.cancel()

    # Then: both sessions together hold every notification once, in order, with its own payload
    assert burst.exception() is None
    assert after[0]["seq"] == cursor + 1
    items = before + after
    assert [item["seq"] for item in items] == list(range(base + 1, base + BURST + 1))
    assert [item["payload"]["n"] for item in items] == list(range(1, BURST + 1))
    assert {(item["kind"], item["resync"]) for item in items} == {("MESSAGE", False)}
    assert await _highest_seq(live_runtime, user_id) == base + BURST
