"""Compiling a subscription's selection into a projection, so live events skip execution.

strawberry runs every event of every subscription through graphql-core's execution and its own per-event
extension and stream machinery: about 160 µs per subscriber per event here, 1.6 s of one core for an
event addressed to 10,000 people. For the live part of ``notifications`` the result's shape is fixed by the
document and every field is a plain attribute of the row, so the selection is compiled once into a
function from row to result (aliases, ``__typename``, fragments and ``@skip``/``@include`` honoured; each
leaf serialised by the schema's own scalar, so the output is what execution would give). Anything the
compiler does not know (a nested selection, an unknown directive) returns ``None``: execute as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

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
from strawberry.types import Info

Projection = Callable[[Any], dict[str, Any]]


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
