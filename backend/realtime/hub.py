"""The broadcast hub: one place that owns the broadcaster connection (``memory://`` or ``redis://``).

The database is the source of truth; the hub only wakes listeners, in this process and in the others
sharing the same Redis. Publishing happens after commit (``UnitOfWork.on_commit``), never before.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from broadcaster import Broadcast
from broadcaster._base import Unsubscribed

log = logging.getLogger(__name__)


class Hub:
    def __init__(self, url: str) -> None:
        self.url = url
        self._broadcast = Broadcast(url)
        self.connected = False

    async def connect(self) -> None:
        await self._broadcast.connect()
        self.connected = True

    async def disconnect(self) -> None:
        if self.connected:
            await self._broadcast.disconnect()
            self.connected = False

    def _wake_redis_listener(self) -> None:
        """Work around a race in broadcaster 0.3.1's Redis backend.

        Its listener task wakes on the first ``subscribe`` before redis-py counts the channel as
        subscribed, finds nothing to listen to, and goes back to sleep for good. Setting its ready event
        again once the subscription is in place restarts it.
        """
        ready = getattr(getattr(self._broadcast, "_backend", None), "_ready", None)
        if ready is not None:
            ready.set()

    async def publish(self, channel: str, message: str) -> None:
        await self._broadcast.publish(channel=channel, message=message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[str]]:
        """Yield an iterator of message payloads on ``channel`` until the block exits."""
        async with self._broadcast.subscribe(channel=channel) as subscriber:
            self._wake_redis_listener()

            async def messages() -> AsyncIterator[str]:
                try:
                    while True:
                        yield (await subscriber.get()).message
                except Unsubscribed:
                    return

            yield messages()
