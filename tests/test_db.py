"""The unit of work: after-commit callbacks and notices run only once the transaction committed."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database


async def test_callbacks_and_notices_follow_the_commit(
    db: Database, clock: FixedClock, settings: Settings
) -> None:
    seen: list[str] = []

    async def publish(channel: str, message: str) -> None:
        seen.append(f"{channel}:{message}")

    async def callback() -> None:
        seen.append("callback")

    async with db.unit_of_work(clock, settings, publish) as uow:
        uow.on_commit(callback)
        uow.notify("auth", "user:1")
        assert seen == []

    assert seen == ["auth:user:1", "callback"]


async def test_nothing_runs_after_a_rollback(db: Database, clock: FixedClock, settings: Settings) -> None:
    seen: list[str] = []

    async def publish(channel: str, message: str) -> None:
        seen.append(channel)

    async def callback() -> None:
        seen.append("callback")

    with pytest.raises(RuntimeError):
        async with db.unit_of_work(clock, settings, publish) as uow:
            uow.on_commit(callback)
            uow.notify("auth", "user:1")
            raise RuntimeError("the operation failed")

    assert seen == []


async def test_a_failed_statement_does_not_carry_its_values_into_the_error(db: Database) -> None:
    # SEC: ID numbers and other personal data in bound values must not reach logs through error text
    secret = "34010420170402001X"
    async with db.read_session() as session:
        with pytest.raises(DBAPIError) as failed:
            await session.execute(text("SELECT * FROM no_such_table WHERE id_number = :n"), {"n": secret})
    assert secret not in str(failed.value)
