"""The edge runs again, from the start, an operation that lost the race to number a notification.

Two transactions notifying one user at the same moment pick the same ``seq``; the unique index lets only
one commit, and ``write`` runs the loser's whole operation again (``SequenceConflictError``). Each user's
numbers then follow commit order without gaps or doubles — what the loss-free catch-up relies on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy import select, text
from starlette.requests import Request
from strawberry.types import Info

from backend.db import UnitOfWork
from backend.domain.actor import Actor
from backend.domain.notifications.log import NotificationKind, SequenceConflictError, notify_users
from backend.graphql.context import Context
from backend.graphql.edge import RETRIES, Failed, write
from backend.models import Notification, User
from tests.api import SCHOOL_REGISTRAR, Api
from tests.conftest import is_postgres

# Failure timeouts only: nothing here is timed.
TIMEOUT = 30
# Transactions of this database that wait for another transaction to end: on an INSERT, the unique
# index waiting to learn whether the row with the same key commits.
WAITING_ON_A_TRANSACTION = text(
    "SELECT count(*) FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid"
    " WHERE NOT l.granted AND l.locktype = 'transactionid' AND a.datname = current_database()"
)


async def _written(
    api: Api, token: str, action: Callable[[UnitOfWork, Actor], Awaitable[int]]
) -> int | Failed:
    """``write`` as a mutation resolver calls it, in a request of its own closed as the schema closes it.

    Of strawberry's ``Info`` the edge reads only ``context``.
    """
    request = Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/graphql",
            "headers": [(b"authorization", f"Bearer {token}".encode())],
            "client": ("127.0.0.1", 50000),
        }
    )
    ctx = Context(runtime=api.runtime, request=request)
    try:
        return await write(cast(Info, SimpleNamespace(context=ctx)), action)
    finally:
        await ctx.close()  # as the RequestScope extension does after every operation


async def _user_id(api: Api, username: str) -> int:
    async with api.runtime.db.read_session() as session:
        user_id = await session.scalar(select(User.id).where(User.username == username))
    assert user_id is not None
    return user_id


async def _notifications(api: Api, user_id: int) -> list[tuple[int, dict[str, Any]]]:
    async with api.runtime.db.read_session() as session:
        rows = await session.execute(
            select(Notification.seq, Notification.payload)
            .where(Notification.recipient_id == user_id)
            .order_by(Notification.seq, Notification.id)
        )
        return [(seq, dict(payload)) for seq, payload in rows]


async def _until_a_transaction_waits_on_another(api: Api) -> None:
    while True:
        async with api.runtime.db.read_session() as session:  # a new snapshot of the activity each time
            if await session.scalar(WAITING_ON_A_TRANSACTION):
                return
        await asyncio.sleep(0.01)


@pytest.mark.skipif(not is_postgres(), reason="SQLite serializes writers: no transaction can lose the race")
async def test_the_loser_of_a_real_numbering_race_is_run_again(api: Api) -> None:
    # RULES: MON-1 — each user's notifications are numbered without gaps or doubles, so nothing is missed
    # Given: a recipient with no notifications, and two operations about to tell them something
    token = await api.login(SCHOOL_REGISTRAR)
    recipient = await _user_id(api, SCHOOL_REGISTRAR)
    assert await _notifications(api, recipient) == []
    numbered, release = asyncio.Event(), asyncio.Event()
    attempts = {"first": 0, "second": 0}

    async def first(uow: UnitOfWork, _: Actor) -> int:
        attempts["first"] += 1
        written = await notify_users(uow, [recipient], NotificationKind.MESSAGE, {"by": "first"})
        numbered.set()
        await release.wait()  # seq 1 stays uncommitted while the second operation numbers its row
        return written

    async def second(uow: UnitOfWork, _: Actor) -> int:
        attempts["second"] += 1
        payload = {"by": "second", "attempt": attempts["second"]}
        return await notify_users(uow, [recipient], NotificationKind.MESSAGE, payload)

    # When: the second numbers its row while the first holds seq 1 open — it also picks 1, and its INSERT
    # waits on the first transaction — then the first commits
    first_done = asyncio.create_task(_written(api, token, first))
    await asyncio.wait_for(numbered.wait(), TIMEOUT)
    second_done = asyncio.create_task(_written(api, token, second))
    try:
        await asyncio.wait_for(_until_a_transaction_waits_on_another(api), TIMEOUT)
    finally:
        release.set()
    first_written, second_written = await asyncio.wait_for(asyncio.gather(first_done, second_done), TIMEOUT)

    # Then: the loser ran once more and numbered after the winner; its lost attempt left nothing behind
    assert (first_written, second_written) == (1, 1)
    assert attempts == {"first": 1, "second": 2}
    assert await _notifications(api, recipient) == [
        (1, {"by": "first"}),
        (2, {"by": "second", "attempt": 2}),
    ]


async def test_a_sequence_conflict_runs_the_whole_operation_again(api: Api) -> None:
    # RULES: MON-1
    # Given: a recipient told one thing already
    token = await api.login(SCHOOL_REGISTRAR)
    recipient = await _user_id(api, SCHOOL_REGISTRAR)
    assert (
        await _written(
            api,
            token,
            lambda uow, _: notify_users(uow, [recipient], NotificationKind.MESSAGE, {"by": "earlier"}),
        )
        == 1
    )
    attempts: list[int] = []

    async def losing_once(uow: UnitOfWork, _: Actor) -> int:
        attempts.append(len(attempts) + 1)
        payload = {"by": "retried", "attempt": len(attempts)}
        written = await notify_users(uow, [recipient], NotificationKind.MESSAGE, payload)
        if len(attempts) == 1:
            # What the INSERT raises when another transaction committed the same seq first; on SQLite,
            # where writers take turns, that cannot happen, so the operation says it.
            raise SequenceConflictError()
        return written

    # When
    result = await _written(api, token, losing_once)

    # Then: the second attempt's row landed once; the first attempt's was rolled back
    assert result == 1
    assert attempts == [1, 2]
    assert await _notifications(api, recipient) == [
        (1, {"by": "earlier"}),
        (2, {"by": "retried", "attempt": 2}),
    ]


async def test_an_operation_that_keeps_losing_fails_with_sequence_conflict(api: Api) -> None:
    # Given
    token = await api.login(SCHOOL_REGISTRAR)
    recipient = await _user_id(api, SCHOOL_REGISTRAR)
    attempts: list[int] = []

    async def always_losing(uow: UnitOfWork, _: Actor) -> int:
        attempts.append(len(attempts) + 1)
        await notify_users(uow, [recipient], NotificationKind.MESSAGE, {"attempt": len(attempts)})
        raise SequenceConflictError()

    # When
    result = await _written(api, token, always_losing)

    # Then: a few attempts, then the caller is told to try again, and nothing was written
    assert isinstance(result, Failed)
    assert [error.code for error in result.errors] == ["SEQUENCE_CONFLICT"]
    assert attempts == list(range(1, RETRIES + 1))
    assert await _notifications(api, recipient) == []
