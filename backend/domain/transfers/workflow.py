"""The review of a transfer and of post-graduation study on the approval engine, and the states shown.

A transfer (kind ``transfer``, TRF-1) is started by the receiving school's registrar and reviewed by four
parties in order — receiving school (leader), its supervising department (registrar), sending school
(leader), its supervising department (registrar). Where both schools share a department and the province
keeps ``transfer.merge_shared_department`` on (the default), the receiving side's department step gives
way to the later one: the department reviews once, at the end (three parties). A cross-province transfer
ends with the receiving school's file retrieval (调档, TRF-2), a ``RETRIEVAL`` step of 10 working days whose
deadline cancels the business (TRF-3).

Post-graduation cross-province study (kind ``post_graduation_study``, TRF-10) has three parties —
receiving school (leader), its department (registrar), the graduating school's department (registrar) —
and always ends with file retrieval.

Each review step is due ``workflow.deadline_days`` working days after it opens and its deadline does what
``workflow.deadline_action`` says (TRF-4: record it overdue; AH: count it approved); the receiving side's
steps follow the receiving province's settings and the sending side's the sending province's, since each
party answers to its own province. A business still open 90 days after its start is cleared by the sweep
unless it waits at file retrieval (TRF-4).

The engine's instance holds the steps; the ``Transfer`` row holds the business and its stored state::

    start ──▶ IN_REVIEW ──last review approved──▶ (in-province) COMPLETED: the record moves
                 │                      └──────▶ (cross-province) AWAITING_RETRIEVAL ──retrieval──▶ COMPLETED
                 ├──a party rejects──────────────▶ REJECTED
                 ├──the receiving school withdraws (until retrieval)──▶ WITHDRAWN
                 └──the sweep cancels (retrieval overdue, 90-day clearing)──▶ CANCELLED

AWAITING_RETRIEVAL is never stored: the retrieval step opens inside the generic ``actOnWorkflow`` (or the
sweep's automatic approval), which knows nothing of transfers. The stored state stays IN_REVIEW and the
state shown is derived from the instance's pending step (``displayed_state``); a list filtered on it
asks the same question in SQL.
"""

from __future__ import annotations

from backend.domain.settings import ProvinceSettings
from backend.domain.workflows.definitions import StepSpec, UnitRef, WorkflowDefinition
from backend.models import Transfer, WorkflowStep
from backend.models.enums import BusinessState, DeadlineAction, Role, StepKind, WorkflowState

TRANSFER = "transfer"
POST_GRADUATION_STUDY = "post_graduation_study"
SUBJECT = "transfer"

RETRIEVAL_WORKING_DAYS = 10  # TRF-3
CLEAR_AFTER_DAYS = 90  # TRF-4

RECEIVING_SCHOOL_STEP = "转入学校审核"
RECEIVING_DEPARTMENT_STEP = "转入学校主管部门审核"
SENDING_SCHOOL_STEP = "转出学校审核"
SENDING_DEPARTMENT_STEP = "转出学校主管部门审核"
SHARED_DEPARTMENT_STEP = "主管部门审核（转入、转出学校共同）"
GRADUATING_DEPARTMENT_STEP = "毕业学校主管部门审核"
RETRIEVAL_STEP = "调档"

# The business state each way an instance can end leaves (APPROVED is decided by the outcome handler).
ENDED_STATES: dict[WorkflowState, BusinessState] = {
    WorkflowState.REJECTED: BusinessState.REJECTED,
    WorkflowState.WITHDRAWN: BusinessState.WITHDRAWN,
    WorkflowState.CANCELLED: BusinessState.CANCELLED,
}


def _review(
    name: str, unit: UnitRef, role: Role, settings: ProvinceSettings, *, merge: bool = False
) -> StepSpec:
    return StepSpec(
        name,
        unit,
        role,
        deadline_working_days=settings.deadline_days,
        on_deadline=settings.deadline_action,
        merge_into_later=merge,
    )


def _retrieval() -> StepSpec:
    return StepSpec(
        RETRIEVAL_STEP,
        UnitRef.RECEIVING_SCHOOL,
        Role.REGISTRAR,
        deadline_working_days=RETRIEVAL_WORKING_DAYS,
        kind=StepKind.RETRIEVAL,
        on_deadline=DeadlineAction.CANCEL,
    )


def transfer_review(
    receiving: ProvinceSettings,
    sending: ProvinceSettings,
    *,
    cross_province: bool,
    shared_department: bool = False,
) -> WorkflowDefinition:
    """The four-party transfer review (TRF-1), ending with file retrieval across provinces (TRF-2, TRF-3).

    ``receiving`` and ``sending`` are the two provinces' settings (the same object within one province).
    ``shared_department`` only names the final step for what it is; the merge itself is the engine's
    ``merge_into_later``, switched by the receiving province's ``merge_shared_department``.
    """
    department = UnitRef.department_of
    merge = receiving.merge_shared_department
    last_department = SHARED_DEPARTMENT_STEP if shared_department and merge else SENDING_DEPARTMENT_STEP
    steps = [
        _review(RECEIVING_SCHOOL_STEP, UnitRef.RECEIVING_SCHOOL, Role.LEADER, receiving),
        _review(
            RECEIVING_DEPARTMENT_STEP,
            department(UnitRef.RECEIVING_SCHOOL),
            Role.REGISTRAR,
            receiving,
            merge=merge,
        ),
        _review(SENDING_SCHOOL_STEP, UnitRef.SENDING_SCHOOL, Role.LEADER, sending),
        _review(last_department, department(UnitRef.SENDING_SCHOOL), Role.REGISTRAR, sending),
    ]
    if cross_province:
        steps.append(_retrieval())
    return WorkflowDefinition(
        kind=TRANSFER,
        title="转学",
        steps=tuple(steps),
        starter=UnitRef.RECEIVING_SCHOOL,
        starter_role=Role.REGISTRAR,
        clear_after_days=CLEAR_AFTER_DAYS,
    )


def post_graduation_review(receiving: ProvinceSettings, graduating: ProvinceSettings) -> WorkflowDefinition:
    """Post-graduation cross-province study (TRF-10): three parties, then file retrieval."""
    department = UnitRef.department_of
    return WorkflowDefinition(
        kind=POST_GRADUATION_STUDY,
        title="毕业后跨省就学",
        steps=(
            _review(RECEIVING_SCHOOL_STEP, UnitRef.RECEIVING_SCHOOL, Role.LEADER, receiving),
            _review(
                RECEIVING_DEPARTMENT_STEP, department(UnitRef.RECEIVING_SCHOOL), Role.REGISTRAR, receiving
            ),
            _review(
                GRADUATING_DEPARTMENT_STEP, department(UnitRef.SENDING_SCHOOL), Role.REGISTRAR, graduating
            ),
            _retrieval(),
        ),
        starter=UnitRef.RECEIVING_SCHOOL,
        starter_role=Role.REGISTRAR,
        clear_after_days=CLEAR_AFTER_DAYS,
    )


def displayed_state(transfer: Transfer, pending: WorkflowStep | None) -> BusinessState:
    """The state people see: IN_REVIEW becomes AWAITING_RETRIEVAL while the retrieval step is pending."""
    if (
        transfer.state is BusinessState.IN_REVIEW
        and pending is not None
        and pending.kind is StepKind.RETRIEVAL
    ):
        return BusinessState.AWAITING_RETRIEVAL
    return transfer.state


def last_review_position(steps: list[WorkflowStep]) -> int | None:
    """The position of the last review step (the graduating county's, for post-graduation study)."""
    reviews = [step.position for step in steps if step.kind is StepKind.REVIEW]
    return reviews[-1] if reviews else None
