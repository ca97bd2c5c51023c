"""The approval state machine, with no I/O.

An instance moves through its steps in order; exactly one step is ``PENDING`` while it is ``OPEN``::

    start ──▶ OPEN (step 0 PENDING, the rest WAITING)
    OPEN ──approve, not the last step──▶ OPEN        step APPROVED, next step PENDING
    OPEN ──approve, the last step──────▶ APPROVED    step APPROVED
    OPEN ──reject (with a reason)──────▶ REJECTED    step REJECTED, the rest SKIPPED
    OPEN ──withdraw (by the starter)───▶ WITHDRAWN   pending and waiting steps SKIPPED
    OPEN ──cancel (the system)─────────▶ CANCELLED   pending and waiting steps SKIPPED
    OPEN ──comment─────────────────────▶ OPEN        nothing moves

APPROVED, REJECTED, WITHDRAWN and CANCELLED are final. Every transition but a comment increments the
instance's ``version``; the engine applies it with ``UPDATE … WHERE state = 'OPEN' AND version = :seen``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from backend.models.enums import StepState, WorkflowState

ActionName = Literal["start", "approve", "reject", "withdraw", "comment", "cancel"]
UserAction = Literal["approve", "reject", "withdraw", "comment"]

FINAL_STATES = frozenset(
    {WorkflowState.APPROVED, WorkflowState.REJECTED, WorkflowState.WITHDRAWN, WorkflowState.CANCELLED}
)

# The audit operation each action writes (``<aggregate>.<past_verb>``).
AUDIT_OPERATIONS: dict[ActionName, str] = {
    "start": "workflow.started",
    "approve": "workflow.approved",
    "reject": "workflow.rejected",
    "withdraw": "workflow.withdrawn",
    "comment": "workflow.commented",
    "cancel": "workflow.cancelled",
}


@dataclass(frozen=True)
class Transition:
    """What one action does to an open instance whose step ``current`` is pending."""

    state: WorkflowState
    current_step: int
    # The pending step's new state; None leaves it pending (a comment).
    acted_step: StepState | None
    # The step that becomes pending next, if any.
    open_position: int | None
    # Whether every step still waiting is skipped (the business ended early).
    skip_waiting: bool
    bumps_version: bool

    @property
    def finishes(self) -> bool:
        return self.state in FINAL_STATES


def transition(action: ActionName, *, current: int, step_count: int) -> Transition:
    """The transition ``action`` causes on an open instance at step ``current`` of ``step_count``."""
    if not 0 <= current < step_count:
        raise ValueError("the current step lies outside the instance")
    if action == "approve":
        last = current == step_count - 1
        return Transition(
            state=WorkflowState.APPROVED if last else WorkflowState.OPEN,
            current_step=current if last else current + 1,
            acted_step=StepState.APPROVED,
            open_position=None if last else current + 1,
            skip_waiting=False,
            bumps_version=True,
        )
    if action == "reject":
        return Transition(WorkflowState.REJECTED, current, StepState.REJECTED, None, True, True)
    if action == "withdraw":
        return Transition(WorkflowState.WITHDRAWN, current, StepState.SKIPPED, None, True, True)
    if action == "cancel":
        return Transition(WorkflowState.CANCELLED, current, StepState.SKIPPED, None, True, True)
    if action == "comment":
        return Transition(WorkflowState.OPEN, current, None, None, False, False)
    raise ValueError(f"{action} is not a transition of an open instance")
