"""Live notifications for every subscription of this process, read from the log in batches.

One event addressed to ten thousand people wakes ten thousand subscriptions; reading the log once per
subscription would be ten thousand queries. So subscriptions do not read for themselves once they are
live: they register here with their cursor, the hub's wake-ups (and a poll every ``POLL_SECONDS``, and a
broadcast recovery) mark them dirty, and one flusher task reads the new rows of every dirty subscription
with one statement per ``CHUNK`` users (``since_many``), hands each its rows and sets its event. It is the
multiplexing of live queries: many subscribers, one read.

Memory stays bounded: a subscription holds at most ``PAGE`` rows it has not sent yet, and is not read for
again until it took them (a slow socket slows only itself; the log keeps the rest). A sign-out or role
change of its user (``auth`` channel), or its session's lapse time passing (checked on the poll, one timer
for all), sets ``attention``, and the subscription re-checks its session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from backend.clock import Clock
from backend.db import Database
from backend.domain.accounts.events import AUTH_CHANNEL
from backend.domain.notifications.log import NOTIFY_CHANNEL, since_many, woken_users
from backend.realtime.hub import Hub

log = logging.getLogger(__name__)

PAGE = 100
CHUNK = 2_000
POLL_SECONDS = 15.0


# Sends ``rows`` (or, when the bool says they follow a gap, a resync at the cursor) to the subscriber.
Sink = Callable[[list[Row[Any]], bool, int], Coroutine[Any, Any, None]]


class FeedSubscription:
    """One live ``notifications`` subscription: its cursor, the rows waiting for it, why it was woken.

    Either a task takes its rows (``take``, woken through ``ready``), or it has a ``sink`` the flusher
    sends through and an ``on_alert`` called when it needs its owner: attention, or a sink that failed.
    """

    __slots__ = (
        "attention",
        "cursor",
        "dirty",
        "failed",
        "lapses_at",
        "on_alert",
        "ready",
        "resync",
        "rows",
        "sending",
        "sink",
        "user_id",
    )

    def __init__(
        self,
        user_id: int,
        cursor: int,
        lapses_at: datetime | None = None,
        sink: Sink | None = None,
        on_alert: Callable[[FeedSubscription], None] | None = None,
    ) -> None:
        if (sink is None) != (on_alert is None):
            raise ValueError("a subscription with a sink needs on_alert, and only it")
        self.user_id = user_id
        self.cursor = cursor
        self.lapses_at = lapses_at  # when its session ends by itself (expiry, idle timeout)
        self.sink = sink  # sends rows itself, from the flusher (see ``_deliver``)
        self.on_alert = on_alert
        self.ready = asyncio.Event() if sink is None else None  # a task waits on it for its rows
        self.sending = False  # a sink's send is waiting on a slow socket
        self.failed = False  # a sink's send failed: the socket is gone
        self.rows: list[Row[Any]] = []
        self.resync = False
        self.dirty = True
        self.attention = False

    def alert(self) -> None:
        """Tell the owner to look: at ``attention``, ``failed`` or new rows."""
        if self.on_alert is not None:
            self.on_alert(self)
        elif self.ready is not None:
            self.ready.set()

    async def wait(self) -> None:
        """Until rows were handed over or attention is asked (subscriptions without a sink)."""
        assert self.ready is not None
        await self.ready.wait()

    def take(self) -> tuple[list[Row[Any]], bool]:
        """The rows handed over (oldest first) and whether they start after a gap; advances the cursor."""
        rows, resync = self.rows, self.resync
        self.rows, self.resync = [], False
        if rows:
            self.cursor = rows[-1].seq
        if self.ready is not None:
            self.ready.clear()
        return rows, resync


class NotificationFeed:
    def __init__(self) -> None:
        self._by_user: dict[int, set[FeedSubscription]] = defaultdict(set)
        self._due = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._db: Database | None = None
        self._clock: Clock | None = None

    def attach(self, hub: Hub) -> None:
        hub.listen(NOTIFY_CHANNEL, self._on_notify)
        hub.listen(AUTH_CHANNEL, self._on_auth)
        hub.on_recovery(self.mark_all)

    def start(self, db: Database, clock: Clock) -> None:
        self._db, self._clock = db, clock
        self._flusher = asyncio.create_task(self._flush_forever(), name="notification-feed")

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None

    @property
    def subscriptions(self) -> int:
        return sum(len(subs) for subs in self._by_user.values())

    def subscribe(self, user_id: int, cursor: int, lapses_at: datetime | None = None) -> _Registration:
        """A subscription whose task takes its rows, live from ``cursor`` while the block runs."""
        return _Registration(self, FeedSubscription(user_id, cursor, lapses_at))

    def add(self, sub: FeedSubscription) -> None:
        """Make ``sub`` live from its cursor (read for at once, so nothing slips in between)."""
        self._by_user[sub.user_id].add(sub)
        self._due.set()

    def remove(self, sub: FeedSubscription) -> None:
        subs = self._by_user.get(sub.user_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_user[sub.user_id]

    def taken(self, sub: FeedSubscription) -> None:
        """``sub`` sent what it was handed; read for it again if it was woken meanwhile or had more."""
        if sub.dirty:
            self._due.set()

    def mark_all(self) -> None:
        for subs in self._by_user.values():
            for sub in subs:
                sub.dirty = True
        self._due.set()

    def _lapses(self) -> None:
        """Ask subscriptions whose session may have lapsed by now to check it (one timer for all)."""
        if self._clock is None:
            return
        now = self._clock.now()
        for subs in self._by_user.values():
            for sub in subs:
                if sub.lapses_at is not None and sub.lapses_at <= now:
                    sub.attention = True
                    sub.alert()

    def _on_notify(self, message: str) -> None:
        for user_id in woken_users(message):
            for sub in self._by_user.get(user_id, ()):
                sub.dirty = True
        self._due.set()

    def _on_auth(self, message: str) -> None:
        kind, _, value = message.partition(":")
        if kind == "user" and value.isdigit():
            for sub in self._by_user.get(int(value), ()):
                sub.attention = True
                sub.alert()

    async def _flush_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._due.wait()
            if not self._due.is_set():
                self.mark_all()  # the poll: wake-ups are at most once, the log is the truth
                self._lapses()
            self._due.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database hiccuped: the next round reads again
                log.exception("reading the notification log for live subscriptions failed")
                await asyncio.sleep(1)
                self.mark_all()  # those it had started on were marked clean: read for everyone again

    async def flush(self) -> None:
        """Read and hand over the new rows of every dirty subscription that took its last ones."""
        waiting = [
            sub
            for subs in self._by_user.values()
            for sub in subs
            if sub.dirty and not sub.rows and not sub.sending and not sub.failed
        ]
        if not waiting or self._db is None:
            return
        for start in range(0, len(waiting), CHUNK):
            chunk = waiting[start : start + CHUNK]
            cursors: dict[int, int] = {}
            for sub in chunk:
                sub.dirty = False
                cursors[sub.user_id] = min(sub.cursor, cursors.get(sub.user_id, sub.cursor))
            async with self._db.read_session() as session:
                found = await since_many(session, cursors, limit=PAGE)
            for sub in chunk:
                rows = [row for row in found.get(sub.user_id, ()) if row.seq > sub.cursor]
                if not rows:
                    continue
                if len(found[sub.user_id]) == PAGE:
                    sub.dirty = True  # there may be more: read again once these are sent
                resync = rows[0].seq != sub.cursor + 1
                if sub.sink is None:
                    sub.rows, sub.resync = rows, resync
                    sub.alert()
                else:
                    self._deliver(sub, rows, resync)

    def _deliver(self, sub: FeedSubscription, rows: list[Row[Any]], resync: bool) -> None:
        """Send through the subscription's sink right here, without waking its task.

        A send to a healthy socket completes without suspending, so the coroutine is run eagerly; only
        one that has to wait for a slow socket gets a task of its own, and that subscription is not read
        for again until it finished.
        """
        sub.cursor = rows[-1].seq
        assert sub.sink is not None
        try:
            pending = run_eagerly(sub.sink(rows, resync, sub.cursor))
        except Exception:  # noqa: BLE001 - the socket is gone: its owner ends the subscription
            sub.failed = True
            sub.alert()
            return
        if pending is not None:
            sub.sending = True
            pending.add_done_callback(lambda task: self._sent(sub, task))
        elif sub.dirty:
            self._due.set()  # a full page went out: read the next one now, not on the next wake-up

    def _sent(self, sub: FeedSubscription, task: asyncio.Task[None]) -> None:
        sub.sending = False
        if task.cancelled() or task.exception() is not None:
            sub.failed = True
            sub.alert()
        elif sub.dirty:
            self._due.set()


def run_eagerly(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run ``coro`` now until it finishes or first has to wait; in the second case, finish it in a task.

    What Python 3.12's eager tasks do, for the one place it matters: ten thousand sends per event, nearly
    all of which never wait, without ten thousand task switches.
    """
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None

    async def rest(waiting_on: Any) -> None:
        try:
            while True:
                if waiting_on is None:
                    await asyncio.sleep(0)  # a bare yield: just let the loop run once
                else:
                    await asyncio.wait([waiting_on])
                try:
                    waiting_on = coro.send(None)
                except StopIteration:
                    return
        except asyncio.CancelledError:
            coro.close()
            raise

    return asyncio.create_task(rest(waiting_on))


class _Registration:
    """``async with feed.subscribe(…) as sub``: a plain context manager, one small object per socket."""

    __slots__ = ("feed", "sub")

    def __init__(self, feed: NotificationFeed, sub: FeedSubscription) -> None:
        self.feed, self.sub = feed, sub

    async def __aenter__(self) -> FeedSubscription:
        self.feed.add(self.sub)
        return self.sub

    async def __aexit__(self, *_: object) -> None:
        self.feed.remove(self.sub)
