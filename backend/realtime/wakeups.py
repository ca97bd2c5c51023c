"""Routing hub wake-ups to this process's subscriptions: one hub subscription per channel, not per socket.

The hub (broadcaster, at most once, alpha) only says "look again": ``notify`` carries ``"<user id>:<seq>"``
after a notification commits, ``todo`` carries ``"unit:<id>:<ROLE>"`` after a step opens or closes, ``auth``
carries ``"user:<id>"`` after a sign-out or role change. Each subscription registers an ``asyncio.Event``
under the keys it cares about (``user:<id>``, ``unit:<id>:<ROLE>``); a wake-up sets the events of its key and
nothing else, so memory per subscription is one event and no queue can grow.

Nothing here is trusted for completeness: a subscription re-reads the database after every wake-up and
also every ``POLL_SECONDS`` without one, so a wake-up lost in Redis, a Redis restart or a listener that died
silently (broadcaster issue #144) delays an item by at most that long and never loses it. When a channel's
listener fails it is restarted with back-off, ``healthy`` reports it, and every waiting subscription is
woken once it is back so that each catches up from the log at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator

from backend.domain.accounts.events import AUTH_CHANNEL
from backend.domain.notifications.log import NOTIFY_CHANNEL
from backend.domain.workflows.engine import TODO_CHANNEL
from backend.realtime.hub import Hub

log = logging.getLogger(__name__)

CHANNELS = (NOTIFY_CHANNEL, TODO_CHANNEL, AUTH_CHANNEL)
POLL_SECONDS = 15.0
MAX_BACKOFF = 30.0


def key_of(channel: str, message: str) -> str | None:
    """The subscription key a wake-up is for, or None for a message this process has no use for."""
    if channel == NOTIFY_CHANNEL:
        user, _, _ = message.partition(":")
        return f"user:{user}" if user.isdigit() else None
    if channel in (TODO_CHANNEL, AUTH_CHANNEL):
        return message
    return None


class Wakeups:
    def __init__(self) -> None:
        self._events: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._tasks: list[asyncio.Task[None]] = []
        self._up: dict[str, bool] = {}

    @property
    def healthy(self) -> bool:
        return bool(self._up) and all(self._up.values())

    async def start(self, hub: Hub) -> None:
        ready = [asyncio.Event() for _ in CHANNELS]
        self._tasks = [
            asyncio.create_task(self._listen(hub, channel, event), name=f"wakeups-{channel}")
            for channel, event in zip(CHANNELS, ready, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), 10)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    @contextlib.contextmanager
    def waiter(self, *keys: str) -> Iterator[asyncio.Event]:
        """An event set whenever one of ``keys`` is woken; registered for the block only."""
        event = asyncio.Event()
        for key in keys:
            self._events[key].add(event)
        try:
            yield event
        finally:
            for key in keys:
                waiting = self._events.get(key)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._events[key]

    def wake(self, key: str) -> None:
        for event in self._events.get(key, ()):
            event.set()

    def wake_all(self) -> None:
        for events in self._events.values():
            for event in events:
                event.set()

    async def _listen(self, hub: Hub, channel: str, ready: asyncio.Event) -> None:
        backoff = 1.0
        while True:
            try:
                async with hub.subscribe(channel) as messages:
                    recovered = self._up.get(channel) is False
                    self._up[channel] = True
                    ready.set()
                    backoff = 1.0
                    if recovered:
                        self.wake_all()  # everyone catches up from the log now
                    async for message in messages:
                        key = key_of(channel, message)
                        if key is not None:
                            self.wake(key)
                raise ConnectionError(f"hub subscription to {channel!r} ended")
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the broadcast dropped: report, back off, subscribe again
                log.warning("wake-ups on %r failed; again in %.0f s", channel, backoff, exc_info=True)
                self._up[channel] = False
                ready.set()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)


async def wait_for_wakeup(event: asyncio.Event, poll_seconds: float = POLL_SECONDS) -> None:
    """Until woken or ``poll_seconds`` passed (the poll that makes lost wake-ups harmless); then re-arm."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(poll_seconds):
            await event.wait()
    event.clear()
