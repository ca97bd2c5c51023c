"""A live ``notifications`` subscription without a task of its own behaves like one with it.

Once replayed, a subscription whose selection compiles is handed to the feed and its resolver returns
(``graphql.live``, ``graphql.notifications.live_feed``): no task waits per subscriber. It must still end
when its session ends, free its id when the client completes it, and leave the feed when the socket goes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection

from backend.runtime import Runtime
from tests.api import SCHOOL_REGISTRAR
from tests.realtime.test_live_frames import _notify
from tests.realtime.test_live_todo import NOTIFICATIONS, login, post, subscribe
from tests.realtime.test_websocket import live_runtime, live_url  # noqa: F401 - the fixtures


async def _until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def _subscribe(ws: ClientConnection, operation_id: str, after: int) -> None:
    """Another ``notifications`` subscription on an open socket."""
    payload = {"query": NOTIFICATIONS, "variables": {"after": after}}
    await ws.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": payload}))


async def _message(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert isinstance(message, dict)
    return message


async def test_a_waiting_subscription_keeps_no_task_and_still_streams(
    live_url: str,  # noqa: F811
    live_runtime: Runtime,  # noqa: F811
) -> None:
    # RULES: MON-1 — pending work reaches the approver live, from a subscription that costs no task
    token = await login(live_url, SCHOOL_REGISTRAR)
    await _notify(live_runtime, SCHOOL_REGISTRAR, 1)
    async with await subscribe(live_url, token, NOTIFICATIONS, {"after": 0}) as ws:
        first = await _message(ws)
        await _until(lambda: live_runtime.feed.subscriptions == 1)
        tasks = len(asyncio.all_tasks())
        await _subscribe(ws, "2", after=1)
        await _until(lambda: live_runtime.feed.subscriptions == 2)
        await asyncio.sleep(0.05)
        assert len(asyncio.all_tasks()) == tasks  # the second one, too, waits without a task
        await _notify(live_runtime, SCHOOL_REGISTRAR, 1)
        live = {
            (m["id"], m["payload"]["data"]["notifications"]["seq"])
            for m in [await _message(ws), await _message(ws)]
        }

    assert first["payload"]["data"]["notifications"]["seq"] == 1
    assert live == {("1", 2), ("2", 2)}
    await _until(lambda: live_runtime.feed.subscriptions == 0)  # the closed socket left the feed


async def test_signing_out_ends_a_waiting_subscription_with_the_error_and_complete(
    live_url: str,  # noqa: F811
    live_runtime: Runtime,  # noqa: F811
) -> None:
    # SEC: a revoked session ends the stream; the client is told why, then the operation completes
    token = await login(live_url, SCHOOL_REGISTRAR)
    async with await subscribe(live_url, token, NOTIFICATIONS, {"after": 0}) as ws:
        await _until(lambda: live_runtime.feed.subscriptions == 1)
        assert (await post(live_url, token, "mutation { logout { ok } }", {}))["data"]["logout"]["ok"]
        failed, done = await _message(ws), await _message(ws)

    assert failed["id"] == "1" and failed["type"] == "next" and failed["payload"]["data"] is None
    assert [e["extensions"]["code"] for e in failed["payload"]["errors"]] == ["UNAUTHENTICATED"]
    assert done == {"id": "1", "type": "complete"}
    assert live_runtime.feed.subscriptions == 0


async def test_completing_a_waiting_subscription_frees_its_id(
    live_url: str,  # noqa: F811
    live_runtime: Runtime,  # noqa: F811
) -> None:
    token = await login(live_url, SCHOOL_REGISTRAR)
    await _notify(live_runtime, SCHOOL_REGISTRAR, 1)
    async with await subscribe(live_url, token, NOTIFICATIONS, {"after": 0}) as ws:
        assert (await _message(ws))["payload"]["data"]["notifications"]["seq"] == 1
        await _until(lambda: live_runtime.feed.subscriptions == 1)
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        await _until(lambda: live_runtime.feed.subscriptions == 0)
        await _notify(live_runtime, SCHOOL_REGISTRAR, 1)  # nothing may arrive for the completed one
        await _subscribe(ws, "1", after=1)
        again = await _message(ws)

    assert again["id"] == "1" and again["payload"]["data"]["notifications"]["seq"] == 2


async def test_a_second_subscribe_with_a_waiting_subscriptions_id_is_refused(
    live_url: str,  # noqa: F811
    live_runtime: Runtime,  # noqa: F811
) -> None:
    token = await login(live_url, SCHOOL_REGISTRAR)
    async with await subscribe(live_url, token, NOTIFICATIONS, {"after": 0}) as ws:
        await _until(lambda: live_runtime.feed.subscriptions == 1)
        await _subscribe(ws, "1", after=0)
        await ws.wait_closed()

    assert ws.close_code == 4409
    await _until(lambda: live_runtime.feed.subscriptions == 0)
