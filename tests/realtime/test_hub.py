"""The broadcast hub wakes subscribers, across processes when Redis is configured."""

from __future__ import annotations

import asyncio

from backend.realtime.hub import Hub
from tests.conftest import TEST_BROADCAST_URL


async def test_published_message_reaches_a_subscriber_of_another_hub() -> None:
    publisher = Hub(TEST_BROADCAST_URL)
    # Two hubs on one Redis stand for two server processes; memory:// is one process by definition.
    listener = Hub(TEST_BROADCAST_URL) if TEST_BROADCAST_URL.startswith("redis") else publisher
    await publisher.connect()
    if listener is not publisher:
        await listener.connect()
    try:
        async with listener.subscribe("test:hub") as messages:
            await asyncio.sleep(0.1)  # let the subscription reach the server
            await publisher.publish("test:hub", "hello")
            received = await asyncio.wait_for(anext(messages), 5)
    finally:
        await publisher.disconnect()
        await listener.disconnect()

    assert received == "hello"
