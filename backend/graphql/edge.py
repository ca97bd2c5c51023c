"""The two ways a resolver reaches the domain: ``read`` for queries, ``write`` for mutations.

``write`` is the transaction edge: it opens one unit of work, runs one service, commits on success and
rolls back on a ``DomainError``, which it turns into ``UserError`` entries for the payload. Resolvers do
nothing else but parse input and shape output.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from strawberry.types import Info

from backend.db import UnitOfWork
from backend.domain.actor import Actor
from backend.domain.errors import DomainError, ValidationError
from backend.domain.notifications.log import SequenceConflictError
from backend.graphql.context import Context
from backend.graphql.errors import UserError

T = TypeVar("T")


@dataclass(frozen=True)
class Failed:
    errors: list[UserError]


def context(info: Info) -> Context:
    ctx = info.context
    assert isinstance(ctx, Context)
    return ctx


RETRIES = 3


async def write(info: Info, action: Callable[[UnitOfWork, Actor], Awaitable[T]]) -> T | Failed:
    """Run ``action`` as the signed-in caller in one transaction committed here.

    A transaction that lost the race to number a recipient's notification (``SequenceConflictError``) is
    run again from the start, a few times: it wrote nothing, and the winner has committed by now.
    """
    ctx = context(info)
    try:
        actor = await ctx.require_actor()
        for attempt in range(RETRIES):
            try:
                async with ctx.runtime.unit_of_work() as uow:
                    result = await action(uow, actor)
                break
            except SequenceConflictError:
                if attempt == RETRIES - 1:
                    raise
    except DomainError as error:
        return Failed(UserError.all_from_domain(error))
    await ctx.end_reads()
    return result


async def write_anonymous(info: Info, action: Callable[[UnitOfWork], Awaitable[T]]) -> T | Failed:
    """Run ``action`` without a caller (sign-in) in one transaction committed here."""
    ctx = context(info)
    try:
        async with ctx.runtime.unit_of_work() as uow:
            result = await action(uow)
    except DomainError as error:
        return Failed(UserError.all_from_domain(error))
    await ctx.end_reads()
    return result


def parse_id(value: str | int, field: str) -> int:
    """A GraphQL ``ID`` as the integer key; anything else is bad input on ``field``."""
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError("编号格式不正确", field=field) from exc
    if number <= 0 or number > 2**62:
        raise ValidationError("编号格式不正确", field=field)
    return number
