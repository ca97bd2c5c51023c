"""Live to-do and notifications over a real socket: another user's mutation reaches the approver, and a
client that was away catches up by its cursor with exactly the gap."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from backend.domain.records.id_numbers import make_resident_id
from backend.models.enums import Gender
from tests.api import LOGIN, SCHOOL_REGISTRAR
from tests.domain.records.support import GUARDIANS, student_values
from tests.graphql.test_idempotent_starts import REGISTER, SUBMIT
from tests.realtime.test_websocket import SUBPROTOCOL, live_url  # noqa: F401 - the fixture

LEADER = "2134010401-lead"
NOTIFICATIONS = "subscription($after: Int!) { notifications(after: $after) { seq kind payload resync } }"
TODO = "subscription { todoChanged { count items { workflow { subjectId } step { name } } } }"


async def login(base: str, username: str) -> str:
    async with httpx.AsyncClient(base_url=f"http://{base}") as client:
        response = await client.post(
            "/graphql", json={"query": LOGIN, "variables": {"username": username, "password": "Xueji@2026"}}
        )
    return str(response.json()["data"]["login"]["token"])


async def post(base: str, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"http://{base}") as client:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {token}"},
        )
    body = response.json()
    assert isinstance(body, dict)
    return body


async def submit_new_student(base: str, token: str, name: str, seq: int) -> str:
    """A draft registered and submitted by the school registrar: a step now waits on the school leader."""
    classes = (await post(base, token, "{ schoolClasses { id grade } }", {}))["data"]["schoolClasses"]
    class_id = next(c["id"] for c in classes if c["grade"] == 3)
    birth = date(2017, 4, 2)
    values = student_values(name, birth=birth, idNumber=make_resident_id("340104", birth, seq, Gender.MALE))
    created = await post(
        base,
        token,
        REGISTER,
        {"i": {"kind": "IN_SCHOOL", "classId": class_id, "values": values, "guardians": GUARDIANS}},
    )
    record_id = str(created["data"]["registerStudent"]["record"]["id"])
    submitted = await post(base, token, SUBMIT, {"r": record_id, "k": None})
    assert submitted["data"]["submitRegistration"]["errors"] == []
    return record_id


async def subscribe(
    base: str, token: str, query: str, variables: dict[str, Any] | None = None
) -> ClientConnection:
    ws = await connect(f"ws://{base}/graphql", subprotocols=[SUBPROTOCOL])
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
    await ws.send(
        json.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
        )
    )
    return ws


async def next_data(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if message["type"] == "next":
            data = message["payload"]["data"]
            assert isinstance(data, dict)
            return data
        assert message["type"] != "error", message


async def test_an_approver_sees_new_work_live_and_catches_up_after_a_gap(live_url: str) -> None:  # noqa: F811
    # RULES: REG-4, MON-1 — the approver learns of new work at once, and misses nothing while away
    registrar = await login(live_url, SCHOOL_REGISTRAR)
    leader = await login(live_url, LEADER)

    todo = await subscribe(live_url, leader, TODO)
    feed = await subscribe(live_url, leader, NOTIFICATIONS, {"after": 0})
    before = (await next_data(todo))["todoChanged"]["count"]

    first = await submit_new_student(live_url, registrar, "实时一", 61)

    changed = (await next_data(todo))["todoChanged"]
    told = (await next_data(feed))["notifications"]
    assert changed["count"] == before + 1
    assert first in [item["workflow"]["subjectId"] for item in changed["items"]]
    assert (told["kind"], told["payload"]["subjectId"], told["resync"]) == ("STEP_PENDING", int(first), False)
    cursor = told["seq"]
    await feed.close()

    # Away: two more submissions; back with the cursor, exactly those two arrive, in order, once.
    second = await submit_new_student(live_url, registrar, "实时二", 62)
    third = await submit_new_student(live_url, registrar, "实时三", 63)
    feed = await subscribe(live_url, leader, NOTIFICATIONS, {"after": cursor})
    caught_up = [(await next_data(feed))["notifications"] for _ in range(2)]
    assert [n["seq"] for n in caught_up] == [cursor + 1, cursor + 2]
    assert [str(n["payload"]["subjectId"]) for n in caught_up] == [second, third]
    fourth = await submit_new_student(live_url, registrar, "实时四", 64)
    live = (await next_data(feed))["notifications"]
    assert (live["seq"], str(live["payload"]["subjectId"])) == (cursor + 3, fourth)
    await feed.close()
    await todo.close()
