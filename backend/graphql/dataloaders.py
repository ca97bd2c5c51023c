"""DataLoaders, one set per request: a page of N objects costs one query per relation, not N."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

from sqlalchemy import and_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from backend.domain.accounts.repository import roles_by_user
from backend.models import (
    ChangeRequest,
    Guardian,
    NationalNumberHistory,
    ProblemRecord,
    RecordHistory,
    SchoolClass,
    StudentRecord,
    Transfer,
    Unit,
    User,
    WorkflowInstance,
)
from backend.models.enums import Role


class Loaders:
    def __init__(self, reading: Callable[[], AbstractAsyncContextManager[AsyncSession]]) -> None:
        self._reading = reading
        self.unit = DataLoader(self._load_units)
        self.user = DataLoader(self._load_users)
        self.roles = DataLoader(self._load_roles)
        self.school_class = DataLoader(self._load_classes)
        self.student_record = DataLoader(self._load_records)
        self.guardians = DataLoader(self._load_guardians)
        self.history = DataLoader(self._load_history)
        self.number_history = DataLoader(self._load_number_history)
        self.problems = DataLoader(self._load_problems)
        self.businesses = DataLoader(self._load_businesses)

    async def _load_units(self, ids: Sequence[int]) -> list[Unit | None]:
        async with self._reading() as session:
            rows = (await session.scalars(select(Unit).where(Unit.id.in_(ids)))).all()
        found = {row.id: row for row in rows}
        return [found.get(i) for i in ids]

    async def _load_users(self, ids: Sequence[int]) -> list[User | None]:
        async with self._reading() as session:
            rows = (await session.scalars(select(User).where(User.id.in_(ids)))).all()
        found = {row.id: row for row in rows}
        return [found.get(i) for i in ids]

    async def _load_roles(self, ids: Sequence[int]) -> list[list[Role]]:
        async with self._reading() as session:
            found = await roles_by_user(session, list(ids))
        return [found.get(i, []) for i in ids]

    async def _load_classes(self, ids: Sequence[int]) -> list[SchoolClass | None]:
        async with self._reading() as session:
            rows = (await session.scalars(select(SchoolClass).where(SchoolClass.id.in_(ids)))).all()
        found = {row.id: row for row in rows}
        return [found.get(i) for i in ids]

    async def _load_records(self, ids: Sequence[int]) -> list[StudentRecord | None]:
        async with self._reading() as session:
            rows = (await session.scalars(select(StudentRecord).where(StudentRecord.id.in_(ids)))).all()
        found = {row.id: row for row in rows}
        return [found.get(i) for i in ids]

    async def _load_guardians(self, ids: Sequence[int]) -> list[list[Guardian]]:
        async with self._reading() as session:
            rows = (
                await session.scalars(
                    select(Guardian)
                    .where(Guardian.record_id.in_(ids))
                    .order_by(Guardian.position, Guardian.id)
                )
            ).all()
        found: dict[int, list[Guardian]] = {i: [] for i in ids}
        for row in rows:
            found[row.record_id].append(row)
        return [found[i] for i in ids]

    async def _load_history(self, ids: Sequence[int]) -> list[list[RecordHistory]]:
        async with self._reading() as session:
            stmt = select(RecordHistory).where(RecordHistory.record_id.in_(ids))
            rows = (await session.scalars(stmt.order_by(RecordHistory.id))).all()
        found: dict[int, list[RecordHistory]] = {i: [] for i in ids}
        for row in rows:
            found[row.record_id].append(row)
        return [found[i] for i in ids]

    async def _load_number_history(self, ids: Sequence[int]) -> list[list[NationalNumberHistory]]:
        async with self._reading() as session:
            stmt = select(NationalNumberHistory).where(NationalNumberHistory.record_id.in_(ids))
            rows = (await session.scalars(stmt.order_by(NationalNumberHistory.id))).all()
        found: dict[int, list[NationalNumberHistory]] = {i: [] for i in ids}
        for row in rows:
            found[row.record_id].append(row)
        return [found[i] for i in ids]

    async def _load_problems(self, ids: Sequence[int]) -> list[list[ProblemRecord]]:
        async with self._reading() as session:
            stmt = select(ProblemRecord).where(ProblemRecord.record_id.in_(ids))
            rows = (await session.scalars(stmt.order_by(ProblemRecord.id))).all()
        found: dict[int, list[ProblemRecord]] = {i: [] for i in ids}
        for row in rows:
            found[row.record_id].append(row)
        return [found[i] for i in ids]

    async def _load_businesses(self, ids: Sequence[int]) -> list[list[WorkflowInstance]]:
        """Every workflow about each record, in one statement, oldest first.

        Its own reviews and status changes (subject the record), its change requests and its transfers.
        """
        instance = WorkflowInstance
        own = select(instance.id.label("instance_id"), instance.subject_id.label("record_id")).where(
            instance.subject_type == "student_record", instance.subject_id.in_(ids)
        )
        changes = (
            select(instance.id, ChangeRequest.record_id)
            .join(
                ChangeRequest,
                and_(instance.subject_type == "change_request", instance.subject_id == ChangeRequest.id),
            )
            .where(ChangeRequest.record_id.in_(ids))
        )
        transfers = (
            select(instance.id, Transfer.record_id)
            .join(Transfer, and_(instance.subject_type == "transfer", instance.subject_id == Transfer.id))
            .where(Transfer.record_id.in_(ids))
        )
        about = union_all(own, changes, transfers).subquery()
        async with self._reading() as session:
            rows = (
                await session.execute(
                    select(instance, about.c.record_id)
                    .join(about, about.c.instance_id == instance.id)
                    .order_by(instance.id)
                )
            ).all()
        found: dict[int, list[WorkflowInstance]] = {i: [] for i in ids}
        for row, record_id in rows:
            found[record_id].append(row)
        return [found[i] for i in ids]
