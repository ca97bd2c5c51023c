"""Workflow definitions: which units approve a business, in which order, as plain data.

A ``WorkflowDefinition`` lists ``StepSpec``s. Each names its acting unit with a ``UnitRef`` *relative to
the business's context* — the subject's school, for a transfer the receiving and sending schools — and the
role that acts there. ``load_context_units`` + ``resolve_steps`` turn the references into concrete unit ids
when a workflow starts: one query fetches every ancestor named by the context units' materialised paths
(no recursive walk). The instance copies the resolved steps, so a later configuration change never
rewrites a running business.

Two steps that resolve to the same unit and role are one step:

* adjacent ones merge, the later surviving with the stricter deadline (a school run directly by a city,
  configured for county then city review, is reviewed once, by the city);
* a step marked ``merge_into_later`` gives way to any later step with the same unit and role (TRF-1: where
  both schools share a supervising department, its two reviews become the single final one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.permissions import BUSINESS_ROLES
from backend.domain.units.repository import get_units
from backend.domain.units.tree import common_superior_id, path_ids
from backend.models import Unit
from backend.models.enums import DeadlineAction, Role, StepKind, UnitKind

# Department levels from the top; a lower index is a higher level.
LEVEL_ORDER: tuple[UnitKind, ...] = (UnitKind.MINISTRY, UnitKind.PROVINCE, UnitKind.CITY, UnitKind.COUNTY)
# The levels a province may configure for review, from the county upward (REG-4).
REVIEW_LEVELS: tuple[UnitKind, ...] = (UnitKind.COUNTY, UnitKind.CITY, UnitKind.PROVINCE)
LEVEL_STEP_NAMES: dict[UnitKind, str] = {
    UnitKind.COUNTY: "区县审核",
    UnitKind.CITY: "地市审核",
    UnitKind.PROVINCE: "省级审核",
}
SCHOOL_STEP_NAME = "学校审核"

REGISTRATION_REVIEW = "registration_review"
CHANGE_REQUEST_REVIEW = "change_request_review"

SUBJECT_SCHOOL = "subject_school"
RECEIVING_SCHOOL = "receiving_school"
SENDING_SCHOOL = "sending_school"


class UnresolvableUnitError(ValueError):
    """A reference names no unit in this context: a wrong definition or a broken tree, never user input."""


@dataclass(frozen=True)
class WorkflowContext:
    """The units a business is about: the subject's school, plus named others (a transfer's two schools).

    ``subject_school`` also scopes the instance: its path becomes the instance's ``unit_path`` (ORG-3).
    """

    subject_school: Unit
    units: Mapping[str, Unit] = field(default_factory=dict)

    def unit(self, name: str) -> Unit:
        if name == SUBJECT_SCHOOL:
            return self.subject_school
        try:
            return self.units[name]
        except KeyError:
            raise UnresolvableUnitError(f"context has no unit named {name!r}") from None

    def all_units(self) -> list[Unit]:
        return [self.subject_school, *self.units.values()]


class UnitRef:
    """Which unit acts, relative to the context units. Build one with the constants and factories below.

    ``UnitRef.SUBJECT_SCHOOL``, ``UnitRef.RECEIVING_SCHOOL``, ``UnitRef.SENDING_SCHOOL`` name context units;
    ``department_of(ref)`` is the nearest ancestor department of a unit; ``department_level(kind, ref)`` its
    department at a level (county, city, province); ``common_superior(a, b)`` the ORG-4 superior of two.
    """

    SUBJECT_SCHOOL: ClassVar[UnitRef]
    RECEIVING_SCHOOL: ClassVar[UnitRef]
    SENDING_SCHOOL: ClassVar[UnitRef]

    @staticmethod
    def named(name: str) -> UnitRef:
        return NamedUnit(name)

    @staticmethod
    def department_of(of: UnitRef | None = None) -> UnitRef:
        return DepartmentOf(of or UnitRef.SUBJECT_SCHOOL)

    @staticmethod
    def department_level(kind: UnitKind, of: UnitRef | None = None) -> UnitRef:
        if kind not in LEVEL_ORDER:
            raise ValueError(f"{kind} is not a department level")
        return DepartmentLevel(kind, of or UnitRef.SUBJECT_SCHOOL)

    @staticmethod
    def common_superior(a: UnitRef, b: UnitRef) -> UnitRef:
        return CommonSuperior(a, b)

    def resolve(self, context: WorkflowContext, units: Mapping[int, Unit]) -> Unit:
        """The concrete unit; ``units`` holds every ancestor of the context units (``load_context_units``)."""
        raise NotImplementedError


@dataclass(frozen=True)
class NamedUnit(UnitRef):
    name: str

    def resolve(self, context: WorkflowContext, units: Mapping[int, Unit]) -> Unit:
        return context.unit(self.name)


@dataclass(frozen=True)
class DepartmentOf(UnitRef):
    """The nearest ancestor that is a department: a branch school's is above its central school."""

    of: UnitRef

    def resolve(self, context: WorkflowContext, units: Mapping[int, Unit]) -> Unit:
        base = self.of.resolve(context, units)
        for unit in reversed(_ancestors(base, units)):
            if unit.kind is not UnitKind.SCHOOL:
                return unit
        raise UnresolvableUnitError(f"unit {base.id} has no supervising department")


@dataclass(frozen=True)
class DepartmentLevel(UnitRef):
    """The department at ``level`` above a unit; where that level is missing, the next one up.

    A school run directly by a city (市直学校) has no county: its county-level review falls to the city,
    which is its supervising department. A level is never filled from below.
    """

    level: UnitKind
    of: UnitRef

    def resolve(self, context: WorkflowContext, units: Mapping[int, Unit]) -> Unit:
        base = self.of.resolve(context, units)
        rank = LEVEL_ORDER.index(self.level)
        for unit in reversed([*_ancestors(base, units), base]):
            if unit.kind in LEVEL_ORDER and LEVEL_ORDER.index(unit.kind) <= rank:
                return unit
        raise UnresolvableUnitError(f"unit {base.id} has no department at or above {self.level}")


@dataclass(frozen=True)
class CommonSuperior(UnitRef):
    """The nearest unit above both (ORG-4)."""

    a: UnitRef
    b: UnitRef

    def resolve(self, context: WorkflowContext, units: Mapping[int, Unit]) -> Unit:
        a, b = self.a.resolve(context, units), self.b.resolve(context, units)
        superior = common_superior_id(a.path, b.path)
        if superior is None or superior not in units:
            raise UnresolvableUnitError(f"units {a.id} and {b.id} have no common superior")
        return units[superior]


UnitRef.SUBJECT_SCHOOL = NamedUnit(SUBJECT_SCHOOL)
UnitRef.RECEIVING_SCHOOL = NamedUnit(RECEIVING_SCHOOL)
UnitRef.SENDING_SCHOOL = NamedUnit(SENDING_SCHOOL)


def _ancestors(unit: Unit, units: Mapping[int, Unit]) -> list[Unit]:
    """The unit's ancestors, root first, from the preloaded map."""
    found: list[Unit] = []
    for ancestor_id in path_ids(unit.path)[:-1]:
        if ancestor_id not in units:
            raise UnresolvableUnitError(f"ancestor {ancestor_id} of unit {unit.id} was not loaded")
        found.append(units[ancestor_id])
    return found


@dataclass(frozen=True)
class StepSpec:
    """One approval step: the acting unit (relative to the context) and the role that acts there.

    Only business roles act (ORG-2: a system administrator never approves). ``deadline_working_days`` sets
    the step's ``due_on`` when it opens (TRF-4 style); ``None`` means no deadline. ``on_deadline`` says what
    the deadline sweep does with a step still pending after it: record it in the overdue register (the
    default, TRF-4), count it approved (the AH variant), or cancel the business (file retrieval, TRF-3).
    A ``RETRIEVAL`` step is the receiving school fetching the file after the reviews (TRF-2).
    """

    name: str
    unit: UnitRef
    role: Role
    deadline_working_days: int | None = None
    merge_into_later: bool = False
    kind: StepKind = StepKind.REVIEW
    on_deadline: DeadlineAction = DeadlineAction.RECORD_OVERDUE

    def __post_init__(self) -> None:
        if self.role not in BUSINESS_ROLES:
            raise ValueError(f"{self.role} may not act in a workflow (ORG-2)")
        if not self.name or len(self.name) > 40:
            raise ValueError("a step name has 1 to 40 characters")
        if self.deadline_working_days is not None and self.deadline_working_days < 1:
            raise ValueError("a deadline is at least one working day")
        if self.kind is StepKind.RETRIEVAL and self.on_deadline is DeadlineAction.APPROVE:
            raise ValueError("a file retrieval never happens by itself (TRF-3)")


@dataclass(frozen=True)
class WorkflowDefinition:
    """A kind of multi-party business: its steps in order, and who starts it.

    ``starter`` and ``starter_role`` say which unit and role may start (and later withdraw) it; by default
    the subject school's registrar, who enters data and starts requests (ORG-2). ``clear_after_days``: a
    business still open that many calendar days after its start is cleared by the sweep and must be
    started again, unless it waits at file retrieval (TRF-4: 90 days).
    """

    kind: str
    steps: tuple[StepSpec, ...]
    title: str
    starter: UnitRef = UnitRef.SUBJECT_SCHOOL
    starter_role: Role = Role.REGISTRAR
    clear_after_days: int | None = None

    def __post_init__(self) -> None:
        if not self.kind or len(self.kind) > 40:
            raise ValueError("a workflow kind has 1 to 40 characters")
        if not self.steps:
            raise ValueError("a workflow has at least one step")
        if self.starter_role not in BUSINESS_ROLES:
            raise ValueError(f"{self.starter_role} may not start a workflow (ORG-2)")


@dataclass(frozen=True)
class ResolvedStep:
    name: str
    unit_id: int
    role: Role
    deadline_working_days: int | None
    kind: StepKind = StepKind.REVIEW
    on_deadline: DeadlineAction = DeadlineAction.RECORD_OVERDUE


async def load_context_units(session: AsyncSession, context: WorkflowContext) -> dict[int, Unit]:
    """The context units and all their ancestors, by id, in one query on the materialised paths."""
    ids = {unit_id for unit in context.all_units() for unit_id in path_ids(unit.path)}
    found = await get_units(session, sorted(ids))
    for unit in context.all_units():
        found.setdefault(unit.id, unit)
    return found


def resolve_steps(
    definition: WorkflowDefinition, context: WorkflowContext, units: Mapping[int, Unit]
) -> list[ResolvedStep]:
    """The definition's steps as concrete unit ids, with repeated unit-and-role steps merged."""
    raw = [
        (
            spec,
            ResolvedStep(
                spec.name,
                spec.unit.resolve(context, units).id,
                spec.role,
                spec.deadline_working_days,
                spec.kind,
                spec.on_deadline,
            ),
        )
        for spec in definition.steps
    ]
    steps: list[ResolvedStep] = []
    for index, (spec, step) in enumerate(raw):
        key = (step.unit_id, step.role)
        if spec.merge_into_later and any((later.unit_id, later.role) == key for _, later in raw[index + 1 :]):
            continue
        if steps and (steps[-1].unit_id, steps[-1].role, steps[-1].kind) == (*key, step.kind):
            step = ResolvedStep(
                step.name,
                step.unit_id,
                step.role,
                _stricter(steps[-1].deadline_working_days, step.deadline_working_days),
                step.kind,
                step.on_deadline,
            )
            steps[-1] = step
            continue
        steps.append(step)
    return steps


def _stricter(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _review_levels(levels: Sequence[UnitKind]) -> list[UnitKind]:
    """The configured department levels, deduplicated, from the county upward."""
    chosen = set(levels)
    if not chosen:
        raise ValueError("at least one department level reviews")
    unknown = chosen - set(REVIEW_LEVELS)
    if unknown:
        raise ValueError(f"not a review level: {sorted(unknown)}")
    return [level for level in REVIEW_LEVELS if level in chosen]


def _department_steps(levels: Sequence[UnitKind], deadline: int | None) -> list[StepSpec]:
    return [
        StepSpec(LEVEL_STEP_NAMES[level], UnitRef.department_level(level), Role.REGISTRAR, deadline)
        for level in _review_levels(levels)
    ]


def registration_review(
    levels: Sequence[UnitKind] = (UnitKind.COUNTY,), *, deadline_working_days: int | None = None
) -> WorkflowDefinition:
    """Registration review (REG-4): the school's leader, then each configured department level's registrar.

    The province configures the levels (default: the county only); they run from the county upward,
    whatever order they are given in. No rule sets a deadline for these steps; a province may.
    """
    return WorkflowDefinition(
        kind=REGISTRATION_REVIEW,
        title="学籍注册审核",
        steps=(
            StepSpec(SCHOOL_STEP_NAME, UnitRef.SUBJECT_SCHOOL, Role.LEADER, deadline_working_days),
            *_department_steps(levels, deadline_working_days),
        ),
    )


def change_request_review(
    levels: Sequence[UnitKind] = (UnitKind.COUNTY,), *, deadline_working_days: int | None = None
) -> WorkflowDefinition:
    """A controlled-field change (CHG-1, CHG-3): the school's leader, then the supervising department(s).

    With the default the school's supervising department reviews (the county, or the city or province
    for a school run directly by one).
    """
    return WorkflowDefinition(
        kind=CHANGE_REQUEST_REVIEW,
        title="学籍信息变更审核",
        steps=(
            StepSpec(SCHOOL_STEP_NAME, UnitRef.SUBJECT_SCHOOL, Role.LEADER, deadline_working_days),
            *_department_steps(levels, deadline_working_days),
        ),
    )
