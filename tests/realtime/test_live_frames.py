"""Live frames without execution say exactly what execution says.

A ``notifications`` subscription replays its backlog through ordinary graphql-core execution, then sends
live events from a compiled projection (``backend.graphql.live``). The two halves of one stream must be
indistinguishable: same keys in the same order, same aliases, fragments, directives and serialised values.
A selection the compiler does not handle falls back to execution and still streams.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import select

from backend.domain.notifications.log import NotificationKind, notify_users
from backend.graphql.live import LiveOperation
from backend.models import User
from backend.runtime import Runtime
from tests.api import SCHOOL_REGISTRAR
from tests.realtime.test_live_todo import login, subscribe
from tests.realtime.test_websocket import live_runtime, live_url  # noqa: F401 - the fixtures

FANCY = """
subscription Feed($after: Int!, $withBody: Boolean!, $noKind: Boolean!) {
  feed: notifications(after: $after) {
    __typename
    number: seq
    ...Body @include(if: $withBody)
    kind @skip(if: $noKind)
    ... on Notification { createdAt seq }
  }
}
fragment Body on Notification { payload resync }
"""


@pytest.fixture
def projected(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The events sent from a projection (not executed), as the server sent them."""
    sent: list[dict[str, Any]] = []
    send_next = LiveOperation.send_next

    async def counting(self: LiveOperation, data: dict[str, Any]) -> None:
        sent.append(data)
        await send_next(self, data)

    monkeypatch.setattr(LiveOperation, "send_next", counting)
    return sent


async def _notify(runtime: Runtime, username: str, count: int) -> None:
    async with runtime.db.read_session() as session:
        user_id = await session.scalar(select(User.id).where(User.username == username))
    assert user_id is not None
    for n in range(count):
        async with runtime.unit_of_work() as uow:
            await notify_users(uow, [user_id], NotificationKind.MESSAGE, {"n": n, "文字": "你好"})


async def _frames(ws: Any, count: int) -> list[dict[str, Any]]:
    frames = []
    while len(frames) < count:
        message = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert message["type"] == "next", message
        frames.append(message["payload"])
    return frames


@pytest.mark.parametrize("no_kind", [True, False])
async def test_replayed_and_live_frames_have_the_same_shape(
    live_url: str,  # noqa: F811
    live_runtime: Runtime,  # noqa: F811
    projected: list[dict[str, Any]],
    no_kind: bool,
) -> None:
    # RULES: MON-1 — the live stream is the same stream, only faster
    token = await login(live_url, SCHOOL_REGISTRAR)
    await _notify(live_runtime, SCHOOL_REGISTRAR, 2)  # the backlog: replayed through execution
    ws = await subscribe(live_url, token, FANCY, {"after": 0, "withBody": True, "noKind": no_kind})
    try:
        replayed = await _frames(ws, 2)
        await _notify(live_runtime, SCHOOL_REGISTRAR, 2)  # live: sent from the projection
        live = await _frames(ws, 2)
    finally:
        await ws.close()

    assert projected == [frame["data"] for frame in live]  # the live half was not executed
    shapes = {tuple(frame["data"]["feed"]) for frame in replayed + live}
    expected = ("__typename", "number", "payload", "resync", "createdAt", "seq")
    assert shapes == {expected if no_kind else (*expected[:4], "kind", *expected[4:])}
    for frame in replayed + live:
        assert set(frame) == {"data"}
        item = frame["data"]["feed"]
        assert item["__typename"] == "Notification" and item["number"] == item["seq"]
        assert item["payload"]["文字"] == "你好" and item["resync"] is False
    assert [f["data"]["feed"]["seq"] for f in replayed + live] == [1, 2, 3, 4]
    created = [f["data"]["feed"]["createdAt"] for f in replayed + live]
    assert len({len(value) for value in created}) == 1  # one serialisation of the date-time throughout


async def test_a_selection_the_compiler_does_not_take_is_executed_and_still_streams(
    live_url: str,  # noqa: F811
    live_runtime: Runtime,  # noqa: F811
    projected: list[dict[str, Any]],
) -> None:
    # The root field asked twice under one name: valid (the fields merge), two field nodes, not compiled.
    token = await login(live_url, SCHOOL_REGISTRAR)
    query = "subscription { notifications(after: 0) { seq } notifications(after: 0) { kind } }"
    ws = await subscribe(live_url, token, query)
    try:
        await _notify(live_runtime, SCHOOL_REGISTRAR, 1)
        frames = await _frames(ws, 1)
    finally:
        await ws.close()
    assert frames[0]["data"] == {"notifications": {"seq": 1, "kind": "MESSAGE"}}
    assert projected == []
