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
from backend.realtime.feed import NotificationFeed
from backend.realtime.hub import Hub
from backend.realtime.session_cache import SessionCache
from backend.realtime.wakeups import CHANNELS, Wakeups


@dataclass
class Runtime:
    settings: Settings
    db: Database
    hub: Hub
    clock: Clock = field(default_factory=SystemClock)
    calendars: CalendarCache = field(default_factory=CalendarCache)
    sessions: SessionCache = field(default_factory=SessionCache)
    wakeups: Wakeups = field(default_factory=Wakeups)
    feed: NotificationFeed = field(default_factory=NotificationFeed)

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> Runtime:
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            hub=Hub(settings.broadcast_url, CHANNELS),
            clock=clock or SystemClock(),
        )

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        return self.db.unit_of_work(self.clock, self.settings, self.publish)

    async def publish(self, channel: str, message: str) -> None:
        """A committed notice: to this process's listeners at once, then to the others via the hub.

        Local first, so that a request following a sign-out here can never be answered from the cache.
        """
        await self.hub.publish(channel, message)

    async def start(self) -> None:
        for part in (self.sessions, self.wakeups, self.feed):
            part.attach(self.hub)
        await self.hub.connect()
        self.feed.start(self.db, self.clock)

    async def stop(self) -> None:
        await self.feed.stop()
        await self.hub.disconnect()
        await self.db.dispose()
