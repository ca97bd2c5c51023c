"""Setup shared by the workflow tests: the test tree, the people acting in it, one unit of work per request.

Plain functions, no fixtures: a test asks for ``db``, ``clock`` and ``settings`` and builds its ``World``.
Tests that watch outcome handlers use a kind of their own (``unique_kind``), so a handler a feature registers
for the real kind never runs against these made-up subjects.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from sqlalchemy import event, func, select

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.actor import Actor
from backend.domain.errors import DomainError
from backend.domain.workflows.definitions import WorkflowContext, WorkflowDefinition, registration_review
from backend.domain.workflows.engine import finishing_action, start_workflow
from backend.domain.workflows.outcomes import register_outcome, unregister_outcome
from backend.models import (
    AuditEntry,
    IdempotencyKey,
    Unit,
    WorkflowAction,
    WorkflowInstance,
    WorkflowStep,
)
from backend.models.enums import Role, UnitKind, WorkflowState
from tests.domain.factories import Tree, actor_of, build_tree, make_user

_subjects = itertools.count(1000)


@dataclass
class World:
    db: Database
    clock: FixedClock
    settings: Settings
    tree: Tree
    registrar: Actor  # school A1, the starter
    registrar2: Actor  # a colleague of the starter
    leader: Actor  # school A1 leader: step 1
    leader2: Actor  # a second A1 leader, for races
    admin: Actor  # school A1 system administrator (ORG-2)
    county: Actor  # county A registrar: step 2
    county_leader: Actor
    city: Actor  # city registrar
    province: Actor  # province registrar
    other_leader: Actor  # school A2 leader: same county, other school
    other_county: Actor  # county B registrar: same city, other county
    b1_leader: Actor  # school B1 leader
    notices: list[tuple[str, str]] = field(default_factory=list)

    def uow(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """One request: committed at the end of the block; its notices land in ``notices``."""

        async def publish(channel: str, message: str) -> None:
            self.notices.append((channel, message))

        return self.db.unit_of_work(self.clock, self.settings, publish)

    def context(self, school: Unit | None = None, **units: Unit) -> WorkflowContext:
        return WorkflowContext(subject_school=school or self.tree.school_a1, units=units)


async def make_world(db: Database, clock: FixedClock, settings: Settings) -> World:
    async with db.unit_of_work(clock, settings) as uow:
        tree = await build_tree(uow)

        async def person(unit: Unit, name: str, role: Role) -> Actor:
            return await actor_of(uow.session, await make_user(uow, unit, name, (role,)))

        return World(
            db=db,
            clock=clock,
            settings=settings,
            tree=tree,
            registrar=await person(tree.school_a1, "a1.registrar", Role.REGISTRAR),
            registrar2=await person(tree.school_a1, "a1.registrar2", Role.REGISTRAR),
            leader=await person(tree.school_a1, "a1.leader", Role.LEADER),
            leader2=await person(tree.school_a1, "a1.leader2", Role.LEADER),
            admin=await person(tree.school_a1, "a1.admin", Role.SYSTEM_ADMINISTRATOR),
            county=await person(tree.county_a, "ca.registrar", Role.REGISTRAR),
            county_leader=await person(tree.county_a, "ca.leader", Role.LEADER),
            city=await person(tree.city, "city.registrar", Role.REGISTRAR),
            province=await person(tree.province, "prov.registrar", Role.REGISTRAR),
            other_leader=await person(tree.school_a2, "a2.leader", Role.LEADER),
            other_county=await person(tree.county_b, "cb.registrar", Role.REGISTRAR),
            b1_leader=await person(tree.school_b1, "b1.leader", Role.LEADER),
        )


def unique_kind() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


def review(
    levels: tuple[UnitKind, ...] = (UnitKind.COUNTY,), *, deadline: int | None = None
) -> WorkflowDefinition:
    """The registration review under a kind of the test's own."""
    return replace(registration_review(levels, deadline_working_days=deadline), kind=unique_kind())


async def start(
    w: World,
    definition: WorkflowDefinition | None = None,
    *,
    actor: Actor | None = None,
    subject_id: int | None = None,
    context: WorkflowContext | None = None,
    key: str | None = None,
    data: dict[str, Any] | None = None,
) -> WorkflowInstance:
    async with w.uow() as uow:
        return await start_workflow(
            uow,
            actor=actor or w.registrar,
            definition=definition or review(),
            subject_type="student_record",
            subject_id=next(_subjects) if subject_id is None else subject_id,
            context=context or w.context(),
            data=data,
            idempotency_key=key,
        )


async def refusal(w: World, action: Callable[[UnitOfWork], Awaitable[Any]]) -> DomainError:
    """Run ``action`` in its own unit of work and expect a ``DomainError``; the work is rolled back."""
    try:
        async with w.uow() as uow:
            await action(uow)
    except DomainError as error:
        return error
    pytest.fail("expected a DomainError")


@dataclass(frozen=True)
class Counts:
    instances: int
    steps: int
    actions: int
    audit: int
    keys: int


async def counts(w: World) -> Counts:
    async with w.db.read_session() as session:

        async def count(model: type[Any]) -> int:
            return await session.scalar(select(func.count()).select_from(model)) or 0

        return Counts(
            instances=await count(WorkflowInstance),
            steps=await count(WorkflowStep),
            actions=await count(WorkflowAction),
            audit=await count(AuditEntry),
            keys=await count(IdempotencyKey),
        )


async def load(
    w: World, instance_id: int
) -> tuple[WorkflowInstance, list[WorkflowStep], list[WorkflowAction]]:
    async with w.db.read_session() as session:
        instance = await session.get(WorkflowInstance, instance_id)
        assert instance is not None
        steps = await session.scalars(
            select(WorkflowStep)
            .where(WorkflowStep.instance_id == instance_id)
            .order_by(WorkflowStep.position)
        )
        actions = await session.scalars(
            select(WorkflowAction)
            .where(WorkflowAction.instance_id == instance_id)
            .order_by(WorkflowAction.id)
        )
        loaded = instance, list(steps), list(actions)
        session.expunge_all()  # keep the loaded values past the read session's rollback
        return loaded


async def audit_entry(w: World, operation: str) -> AuditEntry:
    async with w.db.read_session() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.operation == operation))
        assert entry is not None
        session.expunge_all()
        return entry


async def audit_operations(w: World, instance_id: int) -> list[str]:
    async with w.db.read_session() as session:
        rows = await session.scalars(
            select(AuditEntry.operation)
            .where(AuditEntry.target_type == "workflow_instance", AuditEntry.target_id == str(instance_id))
            .order_by(AuditEntry.id)
        )
        return list(rows)


@dataclass(frozen=True)
class Finished:
    """What an outcome handler saw: the instance, its final state, and the action that ended it."""

    instance_id: int
    state: WorkflowState
    user_id: int | None
    reason: str | None


@contextmanager
def recording_outcomes(kind: str) -> Iterator[list[Finished]]:
    """Register a handler for ``kind`` that records each call; removed afterwards."""
    calls: list[Finished] = []

    async def handler(uow: UnitOfWork, instance: WorkflowInstance, state: WorkflowState) -> None:
        assert uow.session.in_transaction()
        assert instance.state is state
        action = await finishing_action(uow.session, instance.id)
        assert action is not None
        calls.append(Finished(instance.id, state, action.user_id, action.comment))

    register_outcome(kind, handler)
    try:
        yield calls
    finally:
        unregister_outcome(kind, handler)


@contextmanager
def counting_statements(db: Database) -> Iterator[list[str]]:
    """Collect the SQL statements the engine executes inside the block."""
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", before)
