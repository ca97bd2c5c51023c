"""Engine, sessions and the unit of work.

One operation is one transaction: the edge (a GraphQL mutation, a CLI command, a job) opens a
``UnitOfWork``, services add to its session and never commit, and the edge commits. Side effects that must
not happen for a rolled-back change (broadcasts, mail wake-ups) are queued with ``on_commit`` and run only
after the commit succeeded.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from backend.clock import Clock
from backend.config import Settings

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None]]
Publisher = Callable[[str, str], Awaitable[None]]


def make_engine(url: str) -> AsyncEngine:
    """Create an engine tuned for the backend behind ``url``.

    ``hide_parameters``: a failed statement's error (and any SQL logging) shows the statement without its
    bound values, which are ID numbers, names and password hashes — they must not reach a log.
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        _configure_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


@dataclass
class UnitOfWork:
    """What a service needs for one operation: the session, the clock and the settings."""

    session: AsyncSession
    clock: Clock
    settings: Settings
    _after_commit: list[AfterCommit] = field(default_factory=list)
    _notices: list[tuple[str, str]] = field(default_factory=list)

    def on_commit(self, callback: AfterCommit) -> None:
        """Run ``callback`` once the transaction has committed; dropped on rollback."""
        self._after_commit.append(callback)

    def notify(self, channel: str, message: str) -> None:
        """Broadcast ``message`` on ``channel`` to every server process once the transaction commits."""
        self._notices.append((channel, message))


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @asynccontextmanager
    async def unit_of_work(
        self, clock: Clock, settings: Settings, publish: Publisher | None = None
    ) -> AsyncIterator[UnitOfWork]:
        """Open a transaction, commit it when the block succeeds, then publish and run callbacks.

        Without ``publish`` (CLI, tests of services) notices are dropped: no server listens there.
        """
        async with self.sessionmaker() as session:
            uow = UnitOfWork(session=session, clock=clock, settings=settings)
            async with session.begin():
                yield uow
            if publish is not None:
                for channel, message in uow._notices:
                    try:
                        await publish(channel, message)
                    except Exception:  # Redis down: the database still holds the truth
                        log.exception("publishing %s failed", channel)
            for callback in uow._after_commit:
                try:
                    await callback()
                except Exception:  # a failed wake-up must not undo a committed change
                    log.exception("after-commit callback failed")

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for queries only; whatever it did is rolled back on exit."""
        async with self.sessionmaker() as session:
            try:
                yield session
            finally:
                await session.rollback()

    async def dispose(self) -> None:
        await self.engine.dispose()
