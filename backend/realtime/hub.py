"""The broadcast hub: one supervised broadcaster connection (``memory://`` or ``redis://``) per process.

The database is the source of truth; the hub only wakes listeners, in this process and in the others
sharing the same Redis. Publishing happens after commit (``UnitOfWork.on_commit``), never before.

broadcaster 0.3.1 is alpha: its Redis listener task dies silently when the connection drops (its issue
#144) and nothing reconnects it. So the hub watches it: a heartbeat on a channel of its own must come
back within ``timeout`` seconds, and when one does not (or a publish fails) the connection is thrown
away and a fresh one is made with back-off, resubscribing every channel. ``healthy`` says whether the
round trip works now; ``on_recovery`` callbacks run after an outage so that listeners re-read what they
may have missed. While Redis is down, publishing still reaches this process's own listeners (delivered
here first, and the echo of our own messages is dropped) and never blocks or fails the caller.

Listeners are plain callbacks run on the hub's reader task, so they must be quick and never await:
whatever they do lands in a bounded structure of their own (an event set, a key marked dirty), and
broadcaster's per-subscriber queues, which are unbounded, never grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from broadcaster import Broadcast
from broadcaster._base import Subscriber, Unsubscribed

log = logging.getLogger(__name__)

Listener = Callable[[str], None]
MAX_BACKOFF = 30.0


def with_connect_timeout(url: str, seconds: float) -> str:
    """A Redis URL that gives up connecting after ``seconds`` (never a read timeout: pub/sub idles)."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return url
    query = dict(parse_qsl(parts.query))
    query.setdefault("socket_connect_timeout", f"{seconds:g}")
    return urlunsplit(parts._replace(query=urlencode(query)))


class Hub:
    def __init__(
        self,
        url: str,
        channels: Iterable[str],
        *,
        heartbeat_seconds: float = 2.0,
        timeout_seconds: float = 3.0,
    ) -> None:
        self.origin = secrets.token_hex(6)
        self.url = with_connect_timeout(url, timeout_seconds)
        self.channels = tuple(channels)
        self.heartbeat_seconds = heartbeat_seconds
        self.timeout_seconds = timeout_seconds
        self.healthy = False
        self.outages = 0  # connections lost since start, for /healthz and the tests
        self._beat_channel = f"hub.beat.{self.origin}"
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        self._recovery: list[Callable[[], None]] = []
        self._broadcast: Broadcast | None = None
        self._echo = asyncio.Event()
        self._trouble = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._users = 0

    def listen(self, channel: str, listener: Listener) -> None:
        """Call ``listener(message)`` for every message on ``channel`` (one of ``channels``)."""
        if channel not in self.channels:
            raise ValueError(f"the hub does not carry channel {channel!r}")
        self._listeners[channel].append(listener)

    def on_recovery(self, callback: Callable[[], None]) -> None:
        self._recovery.append(callback)

    async def connect(self) -> None:
        """Start supervising (once, however many runtimes share the hub); wait for the first round trip.

        A broadcast that cannot be reached does not stop the server: it starts unhealthy and the
        supervisor keeps trying.
        """
        self._users += 1
        if self._supervisor is not None:
            return
        first = asyncio.Event()
        self._supervisor = asyncio.create_task(self._supervise(first), name="hub-supervisor")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timeout_seconds * 2):
                await first.wait()
        if not self.healthy:
            log.warning("broadcast %s unavailable at start; retrying in the background", self._safe_url)

    async def disconnect(self) -> None:
        self._users = max(self._users - 1, 0)
        if self._users or self._supervisor is None:
            return
        supervisor = self._supervisor
        # One cancel() can be lost: redis-py sends each command under asyncio.wait_for, which on Python 3.11
        # drops a cancel arriving in the step its write finishes (CPython gh-86296). Repeat until it ends.
        while not supervisor.done():
            supervisor.cancel()
            await asyncio.wait([supervisor], timeout=0.1)
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
        self._supervisor = None
        self.healthy = False

    async def publish(self, channel: str, message: str) -> None:
        """Deliver to this process's listeners at once, then to the others if the broadcast is up."""
        self._dispatch(channel, message)
        broadcast = self._broadcast
        if broadcast is None or not self.healthy:
            return  # the others catch up by their poll, and on our recovery
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await broadcast.publish(channel=channel, message=f"{self.origin}|{message}")
        except Exception:  # noqa: BLE001 - a failed publish must not fail the committed operation
            log.warning("publishing on %r failed; checking the broadcast", channel, exc_info=True)
            self._trouble.set()

    @property
    def _safe_url(self) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(netloc=parts.hostname or "", query=""))

    def _dispatch(self, channel: str, message: str) -> None:
        for listener in self._listeners.get(channel, ()):
            try:
                listener(message)
            except Exception:
                log.exception("a listener on %r failed", channel)

    def _received(self, channel: str, wire: str) -> None:
        origin, _, message = wire.partition("|")
        if channel == self._beat_channel:
            self._echo.set()
        elif origin != self.origin:  # our own were delivered when published
            self._dispatch(channel, message)

    async def _supervise(self, first: asyncio.Event) -> None:
        backoff = 0.5
        was_down = False
        while True:
            try:
                async with self._connection() as broadcast:
                    await self._round_trip(broadcast)
                    self._broadcast, self.healthy = broadcast, True
                    first.set()
                    backoff = 0.5
                    if was_down:
                        log.warning("broadcast %s is back", self._safe_url)
                        for callback in self._recovery:
                            callback()
                    await self._watch(broadcast)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - any failure means: reconnect
                if self.healthy:
                    self.outages += 1
                    log.warning("broadcast %s lost (%r); reconnecting", self._safe_url, error)
            self._broadcast, self.healthy = None, False
            was_down = True
            first.set()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _watch(self, broadcast: Broadcast) -> None:
        """Heartbeat every ``heartbeat_seconds`` (sooner after a failed publish) until one fails."""
        while True:
            self._trouble.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.heartbeat_seconds):
                    await self._trouble.wait()
            await self._round_trip(broadcast)

    async def _round_trip(self, broadcast: Broadcast) -> None:
        self._echo.clear()
        async with asyncio.timeout(self.timeout_seconds):
            await broadcast.publish(channel=self._beat_channel, message=f"{self.origin}|beat")
            await self._echo.wait()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Broadcast]:
        """A fresh broadcaster connection subscribed to every channel, torn down whatever happens."""
        broadcast = Broadcast(self.url)
        entered: list[tuple[contextlib.AbstractAsyncContextManager[Subscriber, bool | None], Subscriber]] = []
        readers: list[asyncio.Task[None]] = []
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await broadcast.connect()
                for channel in (*self.channels, self._beat_channel):
                    manager: contextlib.AbstractAsyncContextManager[Subscriber, bool | None]
                    manager = broadcast.subscribe(channel)
                    entered.append((manager, await manager.__aenter__()))
            # broadcaster's Redis listener may have checked for channels before redis-py counted ours
            # and gone to sleep for good; setting its ready event again wakes it.
            ready = getattr(getattr(broadcast, "_backend", None), "_ready", None)
            if ready is not None:
                ready.set()
            readers = [
                asyncio.create_task(self._read(channel, subscriber), name=f"hub-{channel}")
                for channel, (_, subscriber) in zip(
                    (*self.channels, self._beat_channel), entered, strict=True
                )
            ]
            yield broadcast
        finally:
            for _, subscriber in entered:
                subscriber._queue.put_nowait(None)  # ends its reader
            for task in readers:
                task.cancel()
            for task in readers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.timeout_seconds):
                    for manager, _ in reversed(entered):
                        await manager.__aexit__(None, None, None)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.timeout_seconds):
                    await broadcast.disconnect()
            # broadcaster's listener task: closing the connection ends it with the connection's error
            # before its disconnect cancels it, and a failed connect leaves it waiting for good. Either
            # ending is expected: cancel it and retrieve the outcome, so asyncio reports nothing.
            listener = getattr(getattr(broadcast, "_backend", None), "_listener", None)
            if isinstance(listener, asyncio.Task):
                listener.cancel()
                listener.add_done_callback(_retrieve)

    async def _read(self, channel: str, subscriber: Subscriber) -> None:
        with contextlib.suppress(Unsubscribed):
            while True:
                event = await subscriber.get()
                self._received(channel, event.message)


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
