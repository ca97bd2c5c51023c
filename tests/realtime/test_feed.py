"""The process's notification feed: batched reads, bounded hand-over, attention on session changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database
from backend.domain.notifications.log import NOTIFY_CHANNEL, NotificationKind, notify_users
from backend.models import Notification
from backend.realtime import feed as feed_module
from backend.realtime.feed import NotificationFeed
from backend.realtime.hub import Hub
from backend.realtime.wakeups import CHANNELS
from tests.domain.workflows.support import World, make_world


@pytest.fixture
async def w(db: Database, clock: FixedClock, settings: Settings) -> World:
    return await make_world(db, clock, settings)


@pytest.fixture
async def hub_and_feed(db: Database, clock: FixedClock) -> AsyncIterator[tuple[Hub, NotificationFeed]]:
    hub, feed = Hub("memory://", CHANNELS), NotificationFeed()
    feed.attach(hub)
    await hub.connect()
    feed.start(db, clock)
    yield hub, feed
    await feed.stop()
    await hub.disconnect()


async def _tell(w: World, user_id: int, count: int) -> None:
    for n in range(1, count + 1):
        async with w.uow() as uow:
            await notify_users(uow, [user_id], NotificationKind.MESSAGE, {"n": n})


async def _ready(sub: feed_module.FeedSubscription) -> None:
    await asyncio.wait_for(sub.wait(), 10)


@contextmanager
def _sinking(
    feed: NotificationFeed, user_id: int, sink: feed_module.Sink
) -> Iterator[tuple[feed_module.FeedSubscription, asyncio.Event]]:
    """A subscription the flusher sends for (as a detached one is), and the event its alerts set."""
    alerted = asyncio.Event()
    sub = feed_module.FeedSubscription(user_id, 0, None, sink, lambda _: alerted.set())
    feed.add(sub)
    try:
        yield sub, alerted
    finally:
        feed.remove(sub)


async def test_rows_are_handed_over_a_page_at_a_time_and_only_once_taken(
    w: World, hub_and_feed: tuple[Hub, NotificationFeed], monkeypatch: pytest.MonkeyPatch
) -> None:
    # RULES: MON-1 — a slow subscriber holds at most a page; the rest waits in the log, nothing is lost
    monkeypatch.setattr(feed_module, "PAGE", 3)
    hub, feed = hub_and_feed
    await _tell(w, w.leader.user_id, 7)
    async with feed.subscribe(w.leader.user_id, 0) as sub:
        await _ready(sub)
        await hub.publish(NOTIFY_CHANNEL, f"{w.leader.user_id}:7")  # woken again before it took the page
        await asyncio.sleep(0.1)
        assert [row.seq for row in sub.rows] == [1, 2, 3]  # not read for again meanwhile

        seen: list[int] = []
        while len(seen) < 7:
            await _ready(sub)
            rows, resync = sub.take()
            assert not resync
            seen += [row.seq for row in rows]
            feed.taken(sub)
    assert seen == list(range(1, 8))
    assert feed.subscriptions == 0


async def test_one_read_serves_every_woken_subscription(
    w: World, hub_and_feed: tuple[Hub, NotificationFeed], monkeypatch: pytest.MonkeyPatch
) -> None:
    # RULES: MON-1 — one event to many people is one read, not one per subscriber
    hub, feed = hub_and_feed
    users = [w.leader.user_id, w.leader2.user_id]
    async with feed.subscribe(users[0], 0) as first, feed.subscribe(users[1], 0) as second:
        await asyncio.sleep(0.1)  # registered, nothing to read yet
        reads: list[dict[int, int]] = []
        real = feed_module.since_many

        async def counted(session: AsyncSession, cursors: dict[int, int], *, limit: int) -> Any:
            reads.append(dict(cursors))
            return await real(session, cursors, limit=limit)

        monkeypatch.setattr(feed_module, "since_many", counted)
        async with w.db.unit_of_work(w.clock, w.settings, hub.publish) as uow:
            await notify_users(uow, users, NotificationKind.ANNOUNCEMENT, {"title": "全体"})
        await _ready(first)
        await _ready(second)
    assert reads == [{users[0]: 0, users[1]: 0}]
    assert [row.payload["title"] for row in first.rows + second.rows] == ["全体", "全体"]


async def test_a_session_change_asks_for_attention_of_that_users_subscriptions_only(
    w: World, hub_and_feed: tuple[Hub, NotificationFeed]
) -> None:
    hub, feed = hub_and_feed
    async with feed.subscribe(w.leader.user_id, 0) as mine, feed.subscribe(w.leader2.user_id, 0) as other:
        await hub.publish("auth", f"user:{w.leader.user_id}")
        await _ready(mine)
        assert mine.attention and not other.attention and not other.ready.is_set()


async def test_rows_removed_by_retention_are_a_resync(
    w: World, hub_and_feed: tuple[Hub, NotificationFeed], db: Database
) -> None:
    # RULES: MON-1 — a subscriber whose missed rows are gone is told to reload, not given a silent gap
    hub, feed = hub_and_feed
    await _tell(w, w.leader.user_id, 4)
    async with db.unit_of_work(w.clock, w.settings) as uow:
        await uow.session.execute(delete(Notification).where(Notification.seq <= 2))
    async with feed.subscribe(w.leader.user_id, 1) as sub:
        await _ready(sub)
        rows, resync = sub.take()
    assert resync and [row.seq for row in rows] == [3, 4] and sub.cursor == 4


async def test_a_recovered_broadcast_makes_everyone_read_again(
    w: World, hub_and_feed: tuple[Hub, NotificationFeed]
) -> None:
    # A wake-up lost while Redis was away: the hub's recovery marks every subscription dirty.
    _, feed = hub_and_feed
    async with feed.subscribe(w.leader.user_id, 0) as sub:
        await asyncio.sleep(0.1)
        await _tell(w, w.leader.user_id, 1)  # committed without a publisher: nobody was woken
        await asyncio.sleep(0.1)
        assert not sub.ready.is_set()
        feed.mark_all()  # what Hub.on_recovery calls
        await _ready(sub)
    assert [row.seq for row in sub.rows] == [1]


async def test_a_session_lapsing_by_itself_asks_for_attention_on_the_poll(
    w: World, db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SEC idle timeout: an open socket is not activity; its session lapses like any other
    monkeypatch.setattr(feed_module, "POLL_SECONDS", 0.05)
    feed = NotificationFeed()
    feed.start(db, clock)
    try:
        later = clock.now() + timedelta(minutes=10)
        async with feed.subscribe(w.leader.user_id, 0, later) as sub:
            await asyncio.sleep(0.2)
            assert not sub.attention
            clock.advance(timedelta(minutes=10))
            await _ready(sub)
            assert sub.attention
    finally:
        await feed.stop()


async def test_a_sink_sends_from_the_flusher_and_a_slow_one_is_not_read_for_until_done(
    w: World, hub_and_feed: tuple[Hub, NotificationFeed]
) -> None:
    # RULES: MON-1 — a slow socket delays only itself, and still gets everything in order
    hub, feed = hub_and_feed
    sent: list[int] = []
    gate = asyncio.Event()

    async def sink(rows: list[Any], resync: bool, cursor: int) -> None:
        if not gate.is_set() and len(sent) >= 1:
            await gate.wait()  # the socket's buffer is full
        sent.extend(row.seq for row in rows)

    with _sinking(feed, w.leader.user_id, sink) as (sub, _):
        await _tell(w, w.leader.user_id, 1)
        await hub.publish(NOTIFY_CHANNEL, f"{w.leader.user_id}:1")
        for _ in range(100):
            if sent:
                break
            await asyncio.sleep(0.01)
        assert sent == [1] and not sub.sending  # sent eagerly, no task needed
        await _tell(w, w.leader.user_id, 1)
        await hub.publish(NOTIFY_CHANNEL, f"{w.leader.user_id}:2")
        await asyncio.sleep(0.1)
        assert sub.sending and sent == [1]  # waiting on the socket
        async with w.db.unit_of_work(w.clock, w.settings, hub.publish) as uow:
            await notify_users(uow, [w.leader.user_id], NotificationKind.MESSAGE, {"n": 3})
        await asyncio.sleep(0.1)
        assert sent == [1]  # not read for while its send waits
        gate.set()
        for _ in range(100):
            if sent == [1, 2, 3]:
                break
            await asyncio.sleep(0.01)
    assert sent == [1, 2, 3] and not sub.failed


async def test_a_sink_that_fails_ends_the_subscription(
    w: World, hub_and_feed: tuple[Hub, NotificationFeed]
) -> None:
    hub, feed = hub_and_feed

    async def gone(rows: list[Any], resync: bool, cursor: int) -> None:
        raise ConnectionResetError

    with _sinking(feed, w.leader.user_id, gone) as (sub, alerted):
        await _tell(w, w.leader.user_id, 1)
        await hub.publish(NOTIFY_CHANNEL, f"{w.leader.user_id}:1")
        await asyncio.wait_for(alerted.wait(), 10)
    assert sub.failed


def test_a_sink_needs_an_alert_and_a_task_taken_subscription_none() -> None:
    async def sink(rows: list[Any], resync: bool, cursor: int) -> None:
        pass

    with pytest.raises(ValueError):
        feed_module.FeedSubscription(1, 0, None, sink)
    with pytest.raises(ValueError):
        feed_module.FeedSubscription(1, 0, None, None, lambda _: None)


async def test_a_sink_gets_a_backlog_longer_than_a_page_without_waiting_for_a_wake_up(
    w: World, hub_and_feed: tuple[Hub, NotificationFeed], monkeypatch: pytest.MonkeyPatch
) -> None:
    # RULES: MON-1 — after an outage a subscriber catches up on everything at once, not a page per poll
    monkeypatch.setattr(feed_module, "PAGE", 3)
    _, feed = hub_and_feed
    await _tell(w, w.leader.user_id, 7)  # committed without a publisher: no wake-up will come
    sent: list[int] = []

    async def sink(rows: list[Any], resync: bool, cursor: int) -> None:
        sent.extend(row.seq for row in rows)

    with _sinking(feed, w.leader.user_id, sink):
        for _ in range(200):
            if len(sent) == 7:
                break
            await asyncio.sleep(0.01)
    assert sent == [1, 2, 3, 4, 5, 6, 7]
