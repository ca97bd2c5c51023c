"""The pure state machine and the hash chain, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backend.domain.workflows.chain import GENESIS, action_hash, chain_is_intact
from backend.domain.workflows.workflow import ActionName, Transition, transition
from backend.models import WorkflowAction
from backend.models.enums import Role, StepState, WorkflowState

OPEN, APPROVED, REJECTED = WorkflowState.OPEN, WorkflowState.APPROVED, WorkflowState.REJECTED


@pytest.mark.parametrize(
    ("action", "current", "count", "expected"),
    [
        ("approve", 0, 2, Transition(OPEN, 1, StepState.APPROVED, 1, False, True)),
        ("approve", 1, 2, Transition(APPROVED, 1, StepState.APPROVED, None, False, True)),
        ("approve", 0, 1, Transition(APPROVED, 0, StepState.APPROVED, None, False, True)),
        ("reject", 0, 3, Transition(REJECTED, 0, StepState.REJECTED, None, True, True)),
        ("withdraw", 1, 3, Transition(WorkflowState.WITHDRAWN, 1, StepState.SKIPPED, None, True, True)),
        ("cancel", 2, 3, Transition(WorkflowState.CANCELLED, 2, StepState.SKIPPED, None, True, True)),
        ("comment", 1, 3, Transition(OPEN, 1, None, None, False, False)),
    ],
)
def test_transitions(action: ActionName, current: int, count: int, expected: Transition) -> None:
    # RULES: REG-4 (school, then each department in order; a rejection goes back to the school)
    assert transition(action, current=current, step_count=count) == expected


def test_only_open_positions_transition() -> None:
    with pytest.raises(ValueError):
        transition("approve", current=2, step_count=2)
    with pytest.raises(ValueError):
        transition("start", current=0, step_count=2)


def _action(comment: str | None, previous: str) -> WorkflowAction:
    row = WorkflowAction(
        instance_id=1,
        position=0,
        action="approve",
        user_id=2,
        delegate_id=None,
        role=Role.LEADER,
        unit_id=3,
        at=datetime(2026, 11, 25, 2, 0, tzinfo=UTC),
        comment=comment,
        attachment_ids=[5],
        previous_hash=previous,
        hash="",
    )
    row.hash = action_hash(previous, row)
    return row


def test_a_chain_links_from_genesis_and_any_edit_breaks_it() -> None:
    # RULES: SEC-3
    first = _action("同意", GENESIS)
    second = _action("同意上报", first.hash)
    assert chain_is_intact([first, second])

    first.comment = "不同意"
    assert not chain_is_intact([first, second])
    first.comment = "同意"
    assert not chain_is_intact([second])  # the first action removed
    first.role = Role.REGISTRAR
    assert not chain_is_intact([first, second])
