"""What a business does when its workflow ends: handlers registered by kind, run inside the transaction.

The engine knows nothing about registrations or transfers. The feature that owns a kind registers a
handler (``register_outcome`` or the ``on_finished`` decorator); when an instance of that kind reaches a
final state (APPROVED, REJECTED, WITHDRAWN, CANCELLED) the engine awaits every handler of the kind in the
same transaction, after the state, action and audit rows are written — the records service makes a
registration formal or returns it to the school there, and a failing handler rolls the decision back.
A handler finds the reason and the person who decided with ``engine.finishing_action``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from backend.db import UnitOfWork
from backend.models import WorkflowInstance
from backend.models.enums import WorkflowState

OutcomeHandler = Callable[[UnitOfWork, WorkflowInstance, WorkflowState], Awaitable[None]]

_handlers: dict[str, list[OutcomeHandler]] = {}


def register_outcome(kind: str, handler: OutcomeHandler) -> None:
    """Run ``handler`` whenever an instance of ``kind`` finishes; registering it twice has no effect."""
    handlers = _handlers.setdefault(kind, [])
    if handler not in handlers:
        handlers.append(handler)


def unregister_outcome(kind: str, handler: OutcomeHandler) -> None:
    handlers = _handlers.get(kind, [])
    if handler in handlers:
        handlers.remove(handler)


def on_finished(kind: str) -> Callable[[OutcomeHandler], OutcomeHandler]:
    """Decorator form of ``register_outcome``."""

    def decorate(handler: OutcomeHandler) -> OutcomeHandler:
        register_outcome(kind, handler)
        return handler

    return decorate


async def run_outcome_handlers(uow: UnitOfWork, instance: WorkflowInstance, state: WorkflowState) -> None:
    for handler in list(_handlers.get(instance.kind, ())):
        await handler(uow, instance, state)
