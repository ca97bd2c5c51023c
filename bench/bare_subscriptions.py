"""The baseline for ``bench/subscriptions.py``: a bare strawberry subscription app, one queue per subscriber.

The issue's reference figures were measured on an app like this one, so the bench runs it next to Xueji in
the same run: ``subscription { event { id sentAt } }`` gives each subscriber an ``asyncio.Queue`` kept in a
module-level set, and ``POST /publish`` with ``{"id": n, "sentAt": <sender's time.time()>}`` puts that one
event into every queue. There is no database, no authentication and no broadcast layer: what remains is the
cost of strawberry, Starlette and uvicorn themselves. Like the bare app of ``bench/graphql_throughput.py`` it
has the parser and validation caches Xueji has: without them each subscribe validates the same document
again (about 2 ms of the server's CPU here), which makes setting up 10,000 subscribers slow and changes
neither the delivery nor the memory of an idle subscription.

Each queue starts with event ``{id: 0, sentAt: 0}``, so the client's first message says the subscription is
registered (the Xueji side gets the same signal from the replay of a seeded notification). ``GET /count``
says how many subscribers are registered. The bench serves it as uvicorn does by default (one worker, access
log off)::

    python -m uvicorn --factory --app-dir bench bare_subscriptions:create_app --no-access-log

Run as a script it only says this: ``make bench`` runs every file in ``bench/``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

SUBSCRIBERS: set[asyncio.Queue[Event]] = set()


@strawberry.type
class Event:
    id: int
    sent_at: float


@strawberry.type
class Query:
    @strawberry.field
    def subscribers(self) -> int:
        return len(SUBSCRIBERS)


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def event(self) -> AsyncGenerator[Event, None]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        queue.put_nowait(Event(id=0, sent_at=0.0))  # "subscribed": the bench's ready signal
        SUBSCRIBERS.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            SUBSCRIBERS.discard(queue)


async def publish(request: Request) -> JSONResponse:
    body = await request.json()
    event = Event(id=int(body["id"]), sent_at=float(body["sentAt"]))
    for queue in list(SUBSCRIBERS):
        queue.put_nowait(event)
    return JSONResponse({"queued": len(SUBSCRIBERS)})


async def count(_: Request) -> JSONResponse:
    return JSONResponse({"subscribers": len(SUBSCRIBERS)})


def create_app() -> Starlette:
    schema = strawberry.Schema(
        query=Query,
        subscription=Subscription,
        extensions=[lambda: ParserCache(maxsize=1024), lambda: ValidationCache(maxsize=1024)],
    )
    graphql: GraphQL[None, None] = GraphQL(schema)
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/publish", publish, methods=["POST"]),
            Route("/count", count),
        ]
    )


if __name__ == "__main__":
    print("bare_subscriptions.py is the baseline app that bench/subscriptions.py serves; run that script.")
