"""The broadcast hub wakes listeners, across processes when Redis is configured, and its own at once."""

from __future__ import annotations

import asyncio
import gc

import pytest

from backend.realtime.hub import Hub, with_connect_timeout
from tests.conftest import TEST_BROADCAST_URL

CHANNEL = "test:hub"


async def test_published_message_reaches_a_listener_of_another_hub_and_our_own_once() -> None:
    publisher = Hub(TEST_BROADCAST_URL, [CHANNEL])
    # Two hubs on one Redis stand for two server processes; memory:// is one process by definition.
    listener = Hub(TEST_BROADCAST_URL, [CHANNEL]) if TEST_BROADCAST_URL.startswith("redis") else publisher
    heard: list[str] = []
    own: list[str] = []
    arrived = asyncio.Event()

    def hear(message: str) -> None:
        heard.append(message)
        arrived.set()

    listener.listen(CHANNEL, hear)
    if listener is not publisher:
        publisher.listen(CHANNEL, own.append)
    await publisher.connect()
    await listener.connect()
    try:
        assert publisher.healthy and listener.healthy
        await publisher.publish(CHANNEL, "hello")
        await asyncio.wait_for(arrived.wait(), 5)
        await asyncio.sleep(0.2)  # time for a duplicate to show up, if there were one
    finally:
        await publisher.disconnect()
        await listener.disconnect()

    assert heard == ["hello"]
    if listener is not publisher:
        assert own == ["hello"]  # delivered locally when published; its echo from Redis is dropped


def test_redis_urls_get_a_connect_timeout_and_keep_their_own() -> None:
    assert with_connect_timeout("redis://h:6379/0", 3) == "redis://h:6379/0?socket_connect_timeout=3"
    assert with_connect_timeout("redis://h/0?socket_connect_timeout=1", 3).endswith(
        "socket_connect_timeout=1"
    )
    assert with_connect_timeout("memory://", 3) == "memory://"


async def test_an_unreachable_broadcast_does_not_stop_the_server_and_publishing_still_works_here() -> None:
    hub = Hub("redis://127.0.0.1:1/0", [CHANNEL], timeout_seconds=0.5)
    heard: list[str] = []
    hub.listen(CHANNEL, heard.append)
    await hub.connect()
    try:
        assert not hub.healthy
        await hub.publish(CHANNEL, "still here")
    finally:
        await hub.disconnect()
    assert heard == ["still here"]


@pytest.mark.skipif(not TEST_BROADCAST_URL.startswith("redis"), reason="broadcaster's Redis listener task")
async def test_disconnecting_leaves_no_unretrieved_task_error_behind() -> None:
    gc.collect()  # what earlier tests left behind is not this test's to report
    reported: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: reported.append(context))
    hub = Hub(TEST_BROADCAST_URL, [CHANNEL])
    await hub.connect()
    assert hub.healthy
    await hub.disconnect()
    await asyncio.sleep(0.1)
    gc.collect()

    assert reported == []
