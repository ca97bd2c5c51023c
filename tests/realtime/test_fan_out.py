"""Two server processes on one database and one broadcast: a subscriber on one hears, at once, a
notification committed on the other (over Redis when the suite runs with it)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request

from backend.graphql.context import Context
from backend.realtime import feed as feed_module
from tests.api import SCHOOL_REGISTRAR, Api
from tests.graphql.test_idempotent_starts import REGISTER, SUBMIT, demo_values_and_class
from tests.realtime.test_session_cache import two_processes  # noqa: F401 - the fixture

LEADER = "2134010401-lead"
FEED = "subscription($after: Int!) { notifications(after: $after) { seq kind payload } }"


async def open_feed(api: Api, token: str, after: int) -> Any:
    request = Request(
        {"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())], "client": None}
    )
    context = Context(runtime=api.runtime, request=request)
    stream = await api.graphql_app.schema.subscribe(
        FEED, context_value=context, variable_values={"after": after}
    )
    assert hasattr(stream, "__anext__"), stream
    return stream, context


async def test_a_notification_committed_on_one_process_reaches_a_subscriber_on_another(
    two_processes: tuple[Api, Api],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # RULES: MON-1 — approvers see new work the moment it lands, whichever process served the change
    # No poll within the test's patience: only the broadcast's wake-up can deliver in time.
    monkeypatch.setattr(feed_module, "POLL_SECONDS", 600)
    a, b = two_processes
    registrar, leader = await a.login(SCHOOL_REGISTRAR), await b.login(LEADER)
    backlog = await b.post("{ notifications { seq } }", token=leader)
    after = max([n["seq"] for n in backlog["data"]["notifications"]], default=0)
    stream, context = await open_feed(b, leader, after)
    try:
        waiting = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.3)  # the subscription is registered and waiting on process B
        values, class_id = await demo_values_and_class(a, "跨进程", 71)
        created = await a.post(
            REGISTER, {"i": {"kind": "IN_SCHOOL", "classId": class_id, **values}}, token=registrar
        )
        record_id = created["data"]["registerStudent"]["record"]["id"]
        await a.post(SUBMIT, {"r": record_id, "k": None}, token=registrar)  # committed on process A

        result = await asyncio.wait_for(waiting, 10)
    finally:
        await stream.aclose()
        await context.close()

    told = result.data["notifications"]
    assert (told["seq"], told["kind"], str(told["payload"]["subjectId"])) == (
        after + 1,
        "STEP_PENDING",
        record_id,
    )
