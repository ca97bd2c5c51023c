"""The unit of work: after-commit callbacks and notices run only once the transaction committed."""

from __future__ import annotations

import pytest

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
