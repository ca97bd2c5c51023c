"""The ``/graphql`` endpoint: strawberry's ASGI view with our context, auth and JSON encoding.

Websockets speak ``graphql-transport-ws`` only (the legacy ``graphql-ws`` handler had an auth bypass);
the session token comes in ``connection_init`` and is checked before ``connection_ack``. Production
refuses GET queries and serves no GraphiQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from backend.domain.errors import DomainError
from backend.graphql.context import Context
from backend.graphql.live import LiveTransportWSHandler, TextWebSocketAdapter
from backend.graphql.schema import build_schema
from backend.runtime import Runtime


class XuejiGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = LiveTransportWSHandler
    websocket_adapter_class = TextWebSocketAdapter

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        super().__init__(
            build_schema(settings),
            graphql_ide=None if settings.production else "graphiql",
            allow_queries_via_get=not settings.production,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=20,
            allowed_origins=settings.allowed_origins,
        )
        self.runtime = runtime

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        return Context(runtime=self.runtime, request=request, response=response)

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        """Accept the socket only for a valid session token in ``connection_init``."""
        try:
            actor = await context.actor()
        except DomainError as error:
            raise ConnectionRejectionError({"code": error.code, "message": error.message}) from error
        finally:
            await context.end_reads()  # a socket may live for hours; it must not hold a connection
        if actor is None:
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED", "message": "请先登录"})
        return {"userId": str(actor.user_id)}

    def encode_json(self, data: Any) -> bytes:
        return orjson.dumps(data)
