"""A live ``notifications`` subscription served by the process's feed, without a task of its own.

Once its backlog is replayed, a subscription whose selection compiles (``graphql.projection``) hands
itself to the feed: the feed's flusher sends its rows through a sink that projects them into frames, and
the resolver detaches (``graphql.live``), so ten thousand waiting subscribers are ten thousand small
registrations rather than ten thousand tasks holding execution contexts. What the resolver's loop does for
a subscription that keeps its task happens here on alert: a failed socket unregisters (the socket's end
completes the operation); attention — its user's sessions changed, or its own may have lapsed —
re-checks the session in a short task, and a session that ended or whose roles changed fails the
subscription with the error execution would have sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError
from sqlalchemy import Row

from backend.domain.errors import DomainError
from backend.graphql.errors import ErrorShaping, as_graphql_error
from backend.graphql.live import LiveOperation
from backend.graphql.projection import Projection
from backend.graphql.session_watch import SessionWatch
from backend.realtime.feed import FeedSubscription, NotificationFeed


@dataclass(frozen=True, slots=True)
class ResyncMarker:
    """The row a resync is projected from: only its number, and ``resync``."""

    seq: int
    kind: None = None
    payload: None = None
    created_at: None = None
    resync: bool = True


# How each field of ``Notification`` is read from a log row (or a ``ResyncMarker``), for the projection.
GETTERS: dict[str, Callable[[Any], Any]] = {
    "seq": lambda row: row.seq,
    "kind": lambda row: row.kind,
    "payload": lambda row: row.payload,
    "createdAt": lambda row: row.created_at,
    "resync": lambda row: isinstance(row, ResyncMarker),
}

_checks: set[asyncio.Task[None]] = set()  # session checks under way, kept from the garbage collector


def go_live(
    feed: NotificationFeed, live: LiveOperation, watch: SessionWatch, cursor: int, project: Projection
) -> None:
    """Register the subscription on ``feed`` from ``cursor`` and detach it from its task."""
    send = live.send_next

    async def sink(rows: list[Row[Any]], resync: bool, cursor: int) -> None:
        if resync:
            await send(project(ResyncMarker(cursor)))
            return
        for row in rows:
            await send(project(row))

    def on_alert(sub: FeedSubscription) -> None:
        if sub.failed:
            feed.remove(sub)
        elif sub.attention:
            sub.attention = False
            task = asyncio.create_task(check(sub))
            _checks.add(task)
            task.add_done_callback(_checks.discard)

    async def check(sub: FeedSubscription) -> None:
        try:
            await watch.check()
        except DomainError as error:
            feed.remove(sub)
            await live.fail(as_graphql_error(error))
        except Exception as error:  # noqa: BLE001 - ends the subscription as execution would
            feed.remove(sub)
            await live.fail(ErrorShaping().anonymise_error(GraphQLError(str(error), original_error=error)))
        else:
            sub.lapses_at = watch.lapses_at

    sub = FeedSubscription(watch.actor.user_id, cursor, watch.lapses_at, sink, on_alert)
    feed.add(sub)
    live.detach(lambda: feed.remove(sub))
