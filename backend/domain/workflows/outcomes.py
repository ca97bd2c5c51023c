"""What a business does when its workflow ends: handlers registered by kind, run inside the transaction.

The engine knows nothing about registrations or transfers. The feature that owns a kind registers a
handler (``register_outcome`` or the ``on_finished`` decorator); when an instance of that kind reaches a
final state (APPROVED, REJECTED, WITHDRAWN, CANCELLED) the engine awaits every handler of the kind in the
same transaction, after the state, action and audit rows are written — the records service makes a
registration formal or returns it to the school there, and a failing handler rolls the decision back.
A handler finds the reason and the person who decided with ``engine.finishing_action``.

Sweeps end many instances of a kind at once (the 90-day clearing, TRF-4). A feature may register a batch
handler for that (``on_finished_batch``), which gets the instance ids and must do set-based work; a kind
without one gets its per-instance handlers called one by one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from backend.db import UnitOfWork
from backend.models import WorkflowInstance
from backend.models.enums import WorkflowState

OutcomeHandler = Callable[[UnitOfWork, WorkflowInstance, WorkflowState], Awaitable[None]]

BatchOutcomeHandler = Callable[[UnitOfWork, Sequence[WorkflowInstance], WorkflowState], Awaitable[None]]

_handlers: dict[str, list[OutcomeHandler]] = {}
_batch_handlers: dict[str, list[BatchOutcomeHandler]] = {}


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


def on_finished_batch(kind: str) -> Callable[[BatchOutcomeHandler], BatchOutcomeHandler]:
    """Register a set-based handler for many instances of ``kind`` ended together by a sweep."""

    def decorate(handler: BatchOutcomeHandler) -> BatchOutcomeHandler:
        handlers = _batch_handlers.setdefault(kind, [])
        if handler not in handlers:
            handlers.append(handler)
        return handler

    return decorate


async def run_batch_outcome_handlers(
    uow: UnitOfWork, kind: str, instances: Sequence[WorkflowInstance], state: WorkflowState
) -> None:
    """The batch handlers of ``kind``, or else its per-instance handlers for each instance."""
    if not instances:
        return
    batch = _batch_handlers.get(kind)
    if batch:
        for handler in list(batch):
            await handler(uow, instances, state)
        return
    for instance in instances:
        await run_outcome_handlers(uow, instance, state)
