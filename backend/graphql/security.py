"""Hardening of the GraphQL endpoint: limits on depth, aliases, tokens and repetition.

graphql-core validates repeated fields pairwise (OverlappingFieldsCanBeMerged), so 500 copies of one
field cost 250,000 comparisons before any limit says no, and the built-in limiters let them through.
``GuardedValidationCache`` therefore walks the document first — linear time — and refuses floods of
repeated fields or directives without running full validation; everything else is validated once per
distinct document and cached. The limit rules are built once at import so the cache key is stable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as alias_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator

from backend.config import Settings

MAX_REPEATS = 3
MAX_SELECTIONS = 200
MAX_DIRECTIVES = 5
CACHE_SIZE = 1024


def find_flood(document: DocumentNode) -> str | None:
    """Describe the first repetition flood in ``document``, or ``None`` if there is none."""
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            problem = _flood_in(definition.selection_set)
            if problem:
                return problem
    return None


def _flood_in(selection_set: SelectionSetNode | None) -> str | None:
    if selection_set is None:
        return None
    stack = [selection_set]
    while stack:
        current = stack.pop()
        selections = current.selections
        if len(selections) > MAX_SELECTIONS:
            return f"A selection set has {len(selections)} entries; at most {MAX_SELECTIONS} are allowed."
        keys: Counter[str] = Counter()
        for selection in selections:
            directives = getattr(selection, "directives", None) or ()
            if len(directives) > MAX_DIRECTIVES:
                return f"At most {MAX_DIRECTIVES} directives are allowed on one selection."
            if isinstance(selection, FieldNode):
                keys[(selection.alias or selection.name).value] += 1
            if isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
                stack.append(selection.selection_set)
        if keys:
            key, count = keys.most_common(1)[0]
            if count > MAX_REPEATS:
                return f"'{key}' is selected {count} times in one selection set; at most {MAX_REPEATS}."
    return None


class GuardedValidationCache(ValidationCache):
    """Refuse repetition floods before validating; validate each distinct document once."""

    def on_validate(self) -> Iterator[None]:
        document = self.execution_context.graphql_document
        problem = find_flood(document) if document is not None else None
        if problem is not None:
            self.execution_context.pre_execution_errors = [
                GraphQLError(problem, extensions={"code": "QUERY_TOO_COMPLEX"})
            ]
            yield
            return
        yield from super().on_validate()


def hardening_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Extension factories (one instance per request) for the limits in ``settings``."""
    rules = [depth_validator(settings.max_query_depth, None), alias_validator(settings.max_aliases)]
    if settings.production:
        rules.append(NoSchemaIntrospectionCustomRule)
    shared_rules = tuple(rules)
    max_tokens = settings.max_tokens
    return [
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: AddValidationRules(list(shared_rules)),
        lambda: GuardedValidationCache(maxsize=CACHE_SIZE),
    ]
