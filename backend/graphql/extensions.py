"""Request-scoped resources: the read session opened on demand is closed when the operation ends."""

from __future__ import annotations

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension

from backend.graphql.context import Context


class RequestScope(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        if isinstance(context, Context):
            await context.close()
