"""The approval engine's state: instances, their ordered steps, and the tamper-evident action log.

A definition is data (``backend.domain.workflows``); an instance copies its steps at start so a later
configuration change never rewrites a running business. ``version`` makes every transition a guarded
``UPDATE … WHERE state = … AND version = …``: of two approvers acting at once exactly one wins. Each
action row hashes the previous one (SEC-3), so an edited or deleted approval breaks the chain.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Id, Json, TreePath, UTCDateTime
from backend.models.enums import DeadlineAction, Role, StepKind, StepState, WorkflowState


class WorkflowInstance(Base):
    __tablename__ = "workflow_instance"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int] = mapped_column(Id)
    state: Mapped[WorkflowState] = mapped_column(Enum(WorkflowState, native_enum=False, length=16))
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    unit_path: Mapped[str] = mapped_column(TreePath)
    started_by_id: Mapped[int | None] = mapped_column(Id, ForeignKey("app_user.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The day after which an unfinished business is cleared (TRF-4: 90 days), unless at file retrieval.
    clears_on: Mapped[date | None] = mapped_column(Date)
    data: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)

    __table_args__ = (
        Index("ix_workflow_instance_subject", "subject_type", "subject_id"),
        Index("ix_workflow_instance_unit_path_state", "unit_path", "state"),
        # One open business of a kind per subject, also against two concurrent starts.
        Index(
            "uq_workflow_instance_open_subject",
            "kind",
            "subject_type",
            "subject_id",
            unique=True,
            sqlite_where=text("state = 'OPEN'"),
            postgresql_where=text("state = 'OPEN'"),
        ),
        # The 90-day clearing (TRF-4) finds old open instances without a scan.
        Index("ix_workflow_instance_state_clears_on", "state", "clears_on"),
    )


class WorkflowStep(Base):
    __tablename__ = "workflow_step"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(Id, ForeignKey("workflow_instance.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(40))
    acting_unit_id: Mapped[int] = mapped_column(Id, ForeignKey("unit.id"))
    acting_role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=32))
    state: Mapped[StepState] = mapped_column(Enum(StepState, native_enum=False, length=16))
    kind: Mapped[StepKind] = mapped_column(
        Enum(StepKind, native_enum=False, length=16), default=StepKind.REVIEW, server_default="REVIEW"
    )
    # Working days from opening to ``due_on`` (TRF-4), and what the deadline does.
    deadline_working_days: Mapped[int | None] = mapped_column(Integer)
    on_deadline: Mapped[DeadlineAction | None] = mapped_column(
        Enum(DeadlineAction, native_enum=False, length=16)
    )
    due_on: Mapped[date | None] = mapped_column(Date)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acted_by_id: Mapped[int | None] = mapped_column(Id, ForeignKey("app_user.id"))

    __table_args__ = (
        UniqueConstraint("instance_id", "position"),
        # The to-do list: pending steps of one unit and role.
        Index("ix_workflow_step_to_do", "acting_unit_id", "acting_role", "state"),
        # The deadline sweep: pending steps by due date.
        Index("ix_workflow_step_state_due_on", "state", "due_on"),
    )


class OverdueStep(Base):
    """A step not handled by its due date, against the unit that held it (TRF-4, MON-2's circular)."""

    __tablename__ = "overdue_step"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    step_id: Mapped[int] = mapped_column(Id, ForeignKey("workflow_step.id", ondelete="CASCADE"), unique=True)
    instance_id: Mapped[int] = mapped_column(Id, ForeignKey("workflow_instance.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    step_name: Mapped[str] = mapped_column(String(40))
    acting_unit_id: Mapped[int] = mapped_column(Id, ForeignKey("unit.id"))
    acting_role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=32))
    # The acting unit's path: who may read the register (the unit and those above it).
    unit_path: Mapped[str] = mapped_column(TreePath)
    due_on: Mapped[date] = mapped_column(Date)
    # The circular's month, "YYYY-MM", of the due date.
    month: Mapped[str] = mapped_column(String(7))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_overdue_step_unit_path_month", "unit_path", "month"),)


class WorkflowAction(Base):
    """One recorded action (start, approve, reject, withdraw, comment, attach), hash-chained (SEC-3)."""

    __tablename__ = "workflow_action"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        Id, ForeignKey("workflow_instance.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(Id, ForeignKey("app_user.id"))
    delegate_id: Mapped[int | None] = mapped_column(Id, ForeignKey("app_user.id"))
    role: Mapped[Role | None] = mapped_column(Enum(Role, native_enum=False, length=32))
    unit_id: Mapped[int | None] = mapped_column(Id, ForeignKey("unit.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(Text)
    attachment_ids: Mapped[list[int]] = mapped_column(Json, default=list)
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class IdempotencyKey(Base):
    """A client's key for a mutation that starts or advances a workflow: a retry returns the first result."""

    __tablename__ = "idempotency_key"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("app_user.id"))
    key: Mapped[str] = mapped_column(String(100))
    operation: Mapped[str] = mapped_column(String(60))
    result: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("user_id", "key"),)
