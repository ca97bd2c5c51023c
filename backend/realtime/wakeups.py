"""Routing hub wake-ups to this process's to-do subscriptions: keys and events, no queues.

The hub (broadcaster, at most once) only says "look again": ``todo`` carries ``"unit:<id>:<ROLE>"`` after a
step opens or closes, ``notify`` carries the users whose notifications grew, ``auth`` carries
``"user:<id>"`` after a sign-out or role change. Each subscription registers an ``asyncio.Event`` under the
keys it cares about (``unit:<id>:<ROLE>``, ``user:<id>``, ``auth:<id>``); a wake-up sets the events of its
key and nothing else, so memory per subscription is one event and nothing can pile up.

Nothing here is trusted for completeness: a subscription re-reads the database after every wake-up and
also every ``POLL_SECONDS`` without one, and after a broadcast outage the hub's recovery wakes everyone,
so a lost wake-up delays an item by at most that long and never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator

from backend.domain.accounts.events import AUTH_CHANNEL
from backend.domain.notifications.log import NOTIFY_CHANNEL, woken_users
from backend.domain.workflows.engine import TODO_CHANNEL
from backend.realtime.hub import Hub

CHANNELS = (NOTIFY_CHANNEL, TODO_CHANNEL, AUTH_CHANNEL)
POLL_SECONDS = 15.0


def auth_key(user_id: int) -> str:
    return f"auth:{user_id}"


class Wakeups:
    def __init__(self) -> None:
        self._events: dict[str, set[asyncio.Event]] = defaultdict(set)

    def attach(self, hub: Hub) -> None:
        hub.listen(NOTIFY_CHANNEL, self._on_notify)
        hub.listen(TODO_CHANNEL, self.wake)
        hub.listen(AUTH_CHANNEL, self._on_auth)
        hub.on_recovery(self.wake_all)

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

    def _on_notify(self, message: str) -> None:
        for user_id in woken_users(message):
            self.wake(f"user:{user_id}")

    def _on_auth(self, message: str) -> None:
        kind, _, value = message.partition(":")
        if kind == "user" and value.isdigit():
            self.wake(auth_key(int(value)))
