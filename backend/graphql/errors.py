"""How failures reach clients.

Mutations answer bad input in their payload: ``errors: [UserError!]!`` with a stable English ``code``, a
Chinese ``message`` and the input ``field``. Queries raise; the ``ErrorShaping`` extension gives domain
errors the same ``code``/``field`` in ``extensions`` and replaces anything unexpected with a bare
"Unexpected error." (logged server-side), so no stack trace or SQL ever leaves the server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from backend.domain.errors import DomainError

log = logging.getLogger("backend.graphql")


@strawberry.type(
    description="输入或业务规则错误：code 为稳定的英文代码，message 为中文说明，field 为出错的输入项。"
)
class UserError:
    code: str
    message: str
    field: str | None = None

    @classmethod
    def from_domain(cls, error: DomainError) -> UserError:
        return cls(code=error.code, message=error.message, field=error.field)

    @classmethod
    def all_from_domain(cls, error: DomainError) -> list[UserError]:
        """One entry per field problem when the error carries several (a whole form), else one."""
        problems = getattr(error, "errors", None)
        if problems:
            return [cls(code=p.code, message=p.message_zh, field=p.key) for p in problems]
        return [cls.from_domain(error)]


def as_graphql_error(original: DomainError, raised: GraphQLError | None = None) -> GraphQLError:
    """``original`` as clients see it: its Chinese message, ``code`` and ``field`` in ``extensions``.

    ``raised`` is the error graphql-core wrapped it in, whose place in the document is kept.
    """
    return GraphQLError(
        original.message,
        nodes=raised.nodes if raised else None,
        source=raised.source if raised else None,
        positions=raised.positions if raised else None,
        path=raised.path if raised else None,
        extensions={"code": original.code, "field": original.field},
    )


def _is_expected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is None or isinstance(original, DomainError)


class ErrorShaping(MaskErrors):
    """Mask unexpected errors; give domain and validation errors a stable ``extensions.code``."""

    def __init__(self, should_mask_error: Callable[[GraphQLError], bool] | None = None) -> None:
        super().__init__(should_mask_error=lambda e: not _is_expected(e))

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        log.error("unexpected error in %s", error.path, exc_info=error.original_error)
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_ERROR"}
        return masked

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        shaped: list[GraphQLError] = []
        for error in super()._process_errors(errors):
            original = error.original_error
            if isinstance(original, DomainError):
                error = as_graphql_error(original, error)
            elif error.extensions is None or "code" not in error.extensions:
                error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"}
            shaped.append(error)
        return shaped
