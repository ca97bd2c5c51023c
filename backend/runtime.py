"""Everything a running server shares across requests: settings, clock, database and broadcast hub.

Built once in the app's lifespan (or by a test, or by the CLI) and handed down explicitly; there are no
module-level singletons, so two apps with different settings can live in one process.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from backend.calendar import CalendarCache
from backend.clock import Clock, SystemClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.accounts.events import AUTH_CHANNEL
from backend.realtime.hub import Hub
from backend.realtime.session_cache import SessionCache
from backend.realtime.wakeups import Wakeups


@dataclass
class Runtime:
    settings: Settings
    db: Database
    hub: Hub
    clock: Clock = field(default_factory=SystemClock)
    calendars: CalendarCache = field(default_factory=CalendarCache)
    sessions: SessionCache = field(default_factory=SessionCache)
    wakeups: Wakeups = field(default_factory=Wakeups)

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> Runtime:
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            hub=Hub(settings.broadcast_url),
            clock=clock or SystemClock(),
        )

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        return self.db.unit_of_work(self.clock, self.settings, self.publish)

    async def publish(self, channel: str, message: str) -> None:
        """Apply a committed notice here at once, then tell the other processes through the hub.

        Local first, so that a request following a sign-out on this process can never be answered
        from the cache; the hub's echo of our own notice is harmless.
        """
        if channel == AUTH_CHANNEL:
            self.sessions.handle(message)
        await self.hub.publish(channel, message)

    async def start(self) -> None:
        await self.hub.connect()
        await self.sessions.start(self.hub)
        await self.wakeups.start(self.hub)

    async def stop(self) -> None:
        await self.wakeups.stop()
        await self.sessions.stop()
        await self.hub.disconnect()
        await self.db.dispose()
