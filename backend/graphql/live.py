"""Live subscriptions on the socket: frames sent straight out, and subscriptions that outlive their task.

Two costs of strawberry's per-subscriber path matter at ten thousand subscribers. Every event runs through
graphql-core's execution and strawberry's stream machinery (``graphql.projection`` compiles the way
around it), and every waiting subscription keeps a task, its execution context and a chain of async
generators alive — a good part of a socket's memory. So:

* Our handler marks the operation it runs (``current_operation``): a resolver that can serve its events
  without execution gets the socket and the operation id and sends each ``next`` frame itself, built from
  a shared prefix. Frames go out as text, as ``graphql-transport-ws`` requires (browsers hand a binary
  frame over as a ``Blob``, which JSON.parse cannot read): straight onto the transport when the server
  offers that (``realtime.frames``), else through ASGI.
* Such a resolver may ``detach`` once it handed its subscription to something that sends by itself (the
  notification feed): its generator returns and its task ends, while strawberry is kept from completing
  the operation. The operation id stays taken (a duplicate id is still refused, the per-connection limit
  still counts it); the client's ``complete`` or the socket's end calls the subscription's ``end``, and
  the subscription may ``fail`` with an error — sent as a ``next`` with ``errors``, then ``complete``, as
  strawberry ends a subscription whose resolver raised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)

from backend.graphql.context import Context
from backend.realtime.frames import EXTENSION, DirectFrameProtocol


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """strawberry's adapter, sending JSON as text frames (our ``encode_json`` returns bytes)."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        encoded = self.view.encode_json(message)
        await self.send_text(encoded.decode() if isinstance(encoded, bytes) else encoded)

    async def send_text(self, text: str) -> None:
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    @property
    def frames(self) -> DirectFrameProtocol | None:
        """The server's direct frame writer, when it offers one."""
        extensions = self.ws.scope.get("extensions") or {}
        frames = extensions.get(EXTENSION)
        return frames if isinstance(frames, DirectFrameProtocol) else None


class LiveTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.detached: dict[str, Callable[[], None]] = {}  # operation id → what ends it

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        current_operation.set(LiveOperation.of(self, operation))  # this task's context only
        await super().run_operation(operation)

    async def cleanup_operation(self, operation_id: str) -> None:
        """The client completed the operation or the socket ended: a detached one ends here."""
        end = self.detached.pop(operation_id, None)
        if end is not None:
            end()
        await super().cleanup_operation(operation_id)


@dataclass(frozen=True, slots=True)
class LiveOperation:
    """The socket and operation id of the subscription being run, for sending frames directly."""

    handler: LiveTransportWSHandler
    websocket: TextWebSocketAdapter
    operation: Operation[Context, None]
    frame_start: bytes  # b'{"id":"<id>","type":"next","payload":{"data":' — the part every frame shares
    frames: DirectFrameProtocol | None

    @classmethod
    def of(cls, handler: LiveTransportWSHandler, operation: Operation[Context, None]) -> LiveOperation | None:
        websocket = handler.websocket
        if not isinstance(websocket, TextWebSocketAdapter):
            return None
        start = b'{"id":' + orjson.dumps(operation.id) + b',"type":"next","payload":{"data":'
        return cls(handler, websocket, operation, start, websocket.frames)

    @property
    def open(self) -> bool:
        """Neither completed by either side nor failed."""
        return self.handler.operations.get(self.operation.id) is self.operation and (
            not self.operation.completed or self.operation.id in self.handler.detached
        )

    async def send_next(self, data: dict[str, Any]) -> None:
        """The ``next`` frame strawberry would send for ``data``, built by hand (unless no longer open)."""
        if not self.open:
            return
        frame = self.frame_start + orjson.dumps(data) + b"}}"
        if self.frames is None or not self.frames.write_text(frame):
            await self.websocket.send_text(frame.decode())

    def detach(self, end: Callable[[], None]) -> None:
        """Let the resolver return while the subscription goes on; ``end`` is called when it is over."""
        self.operation.completed = True  # so strawberry neither sends ``complete`` nor forgets the id
        self.handler.detached[self.operation.id] = end

    async def fail(self, error: GraphQLError) -> None:
        """End a detached subscription with ``error``, as strawberry ends one whose resolver raised."""
        if not self.open:
            return
        operation_id = self.operation.id
        self.handler.detached.pop(operation_id, None)
        self.handler.forget_id(operation_id)
        # Starlette raises RuntimeError for a send after the server closed the socket (a refused duplicate id)
        with suppress(WebSocketDisconnected, RuntimeError):
            await self.websocket.send_json(
                {"id": operation_id, "type": "next", "payload": {"data": None, "errors": [error.formatted]}}
            )
            await self.websocket.send_json({"id": operation_id, "type": "complete"})


current_operation: ContextVar[LiveOperation | None] = ContextVar("current_operation", default=None)
