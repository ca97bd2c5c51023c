"""Sending live subscription events straight to the socket, without an execution per event.

strawberry runs every event of every subscription through graphql-core's execution and its own per-event
extension and stream machinery: about 160 µs per subscriber per event here, 1.6 s of one core for an
event addressed to 10,000 people. For the live part of ``notifications`` the result's shape is fixed by the
document, and every field is a plain attribute of the row. So when the subscription goes live, its
selection is compiled once into a projection (aliases, ``__typename``, fragments and ``@skip``/``@include``
honoured; each leaf serialised by the schema's own scalar, so the output is what execution would give),
and each event becomes one dict and one ``next`` frame sent by the subscription's task. Anything the
compiler does not know (a nested selection, an unknown directive) keeps the ordinary path: the
subscription yields the value and strawberry executes it.

The websocket handler marks the operation it runs (``current_operation``) so the resolver knows its socket
and operation id. Frames go out as text, as ``graphql-transport-ws`` requires (browsers hand a binary frame
over as a ``Blob``, which JSON.parse cannot read).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLLeafType,
    GraphQLObjectType,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
    get_nullable_type,
)
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.async_base_view import AsyncWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types import Info

from backend.graphql.context import Context

Projection = Callable[[Any], dict[str, Any]]


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


@dataclass(frozen=True, slots=True)
class LiveOperation:
    """The socket and operation id of the subscription being run, for sending frames directly."""

    websocket: TextWebSocketAdapter
    operation: Operation[Context, None]
    frame_start: str  # '{"id":"<id>","type":"next","payload":{"data":' — the part every frame shares

    @classmethod
    def of(
        cls, websocket: AsyncWebSocketAdapter, operation: Operation[Context, None]
    ) -> LiveOperation | None:
        if not isinstance(websocket, TextWebSocketAdapter):
            return None
        start = '{"id":' + orjson.dumps(operation.id).decode() + ',"type":"next","payload":{"data":'
        return cls(websocket, operation, start)

    async def send_next(self, data: dict[str, Any]) -> None:
        """The ``next`` frame strawberry would send for ``data``, built by hand (unless completed)."""
        if not self.operation.completed:
            await self.websocket.send_text(self.frame_start + orjson.dumps(data).decode() + "}}")


current_operation: ContextVar[LiveOperation | None] = ContextVar("current_operation", default=None)


class LiveTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def run_operation(self, operation: Operation[Context, None]) -> None:
        current_operation.set(LiveOperation.of(self.websocket, operation))  # this task's context only
        await super().run_operation(operation)


class NotCompilable(Exception):
    """The selection needs real execution (it is only ever caught in this module)."""


def projection(info: Info, getters: Mapping[str, Callable[[Any], Any]]) -> Projection | None:
    """The compiled projection of the current field's selection, or ``None`` if it must be executed.

    ``getters`` read each field of the returned type from a source row, by GraphQL field name.
    Subscriptions of one document with the same ``@skip``/``@include`` conditions share one compiled
    projection (cached by the document's text, the field's place in it and those conditions).
    """
    raw = info._raw_info
    field_type = get_nullable_type(raw.return_type)
    if len(raw.field_nodes) != 1 or not isinstance(field_type, GraphQLObjectType):
        return None
    node, variables = raw.field_nodes[0], _variables(raw.variable_values)
    cache_key = None
    if node.loc is not None:
        conditions = tuple(sorted((k, v) for k, v in variables.items() if isinstance(v, bool)))
        cache_key = (node.loc.source.body, node.loc.start, conditions, id(getters))
        if cache_key in _compiled:
            return _compiled[cache_key]
    try:
        fields = _collect(node.selection_set, field_type, raw.fragments, variables, getters, visited=set())
    except NotCompilable:
        compiled = None
    else:
        compiled = _projector(node.alias.value if node.alias else node.name.value, fields)
    if cache_key is not None:
        if len(_compiled) >= COMPILED_CACHE:
            del _compiled[next(iter(_compiled))]
        _compiled[cache_key] = compiled
    return compiled


COMPILED_CACHE = 256
_compiled: dict[tuple[str, int, tuple[tuple[str, bool], ...], int], Projection | None] = {}


def _projector(key: str, fields: list[tuple[str, Callable[[Any], Any]]]) -> Projection:
    def project(row: Any) -> dict[str, Any]:
        return {key: {name: read(row) for name, read in fields}}

    return project


def _collect(
    selection_set: SelectionSetNode | None,
    object_type: GraphQLObjectType,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    getters: Mapping[str, Callable[[Any], Any]],
    visited: set[str],
) -> list[tuple[str, Callable[[Any], Any]]]:
    out: dict[str, Callable[[Any], Any]] = {}
    for selection in selection_set.selections if selection_set else ():
        if not _included(selection, variables):
            continue
        if isinstance(selection, FieldNode):
            name = selection.name.value
            response_key = selection.alias.value if selection.alias else name
            out.setdefault(response_key, _leaf(selection, object_type, getters))
        elif isinstance(selection, (InlineFragmentNode, FragmentSpreadNode)):
            if isinstance(selection, FragmentSpreadNode):
                if selection.name.value in visited or selection.name.value not in fragments:
                    raise NotCompilable
                visited.add(selection.name.value)
                fragment: Any = fragments[selection.name.value]
            else:
                fragment = selection
            condition = fragment.type_condition
            if condition is not None and condition.name.value != object_type.name:
                raise NotCompilable
            for response_key, read in _collect(
                fragment.selection_set, object_type, fragments, variables, getters, visited
            ):
                out.setdefault(response_key, read)
        else:
            raise NotCompilable
    return list(out.items())


def _leaf(
    node: FieldNode, object_type: GraphQLObjectType, getters: Mapping[str, Callable[[Any], Any]]
) -> Callable[[Any], Any]:
    name = node.name.value
    if name == "__typename":
        type_name = object_type.name
        return lambda _row: type_name
    definition = object_type.fields.get(name)
    if definition is None or name not in getters or node.selection_set or node.arguments:
        raise NotCompilable
    leaf = get_nullable_type(definition.type)
    if not isinstance(leaf, GraphQLLeafType):
        raise NotCompilable
    get, serialize = getters[name], leaf.serialize

    def read(row: Any) -> Any:
        value = get(row)
        return None if value is None else serialize(value)

    return read


def _variables(values: Any) -> Mapping[str, Any]:
    """The coerced variables (graphql-core types them ``VariableValues``; strawberry hands over a dict)."""
    coerced = getattr(values, "coerced", values)
    return coerced if isinstance(coerced, Mapping) else {}


def _included(node: Any, variables: Mapping[str, Any]) -> bool:
    """``@skip(if:)`` and ``@include(if:)``, with a literal or a variable; any other directive: decline."""
    for directive in node.directives or ():
        name = directive.name.value
        if name not in ("skip", "include"):
            raise NotCompilable
        condition = next((arg.value for arg in directive.arguments if arg.name.value == "if"), None)
        if isinstance(condition, BooleanValueNode):
            value = condition.value
        elif isinstance(condition, VariableNode) and isinstance(variables.get(condition.name.value), bool):
            value = variables[condition.name.value]
        else:
            raise NotCompilable
        if value is (name == "skip"):
            return False
    return True
