"""Problem records (问题学籍, PRB-1..5): one row per record per problem.

Duplicates share a ``group_key`` (the ID number for type 2; name|gender|birth date for type 3), so a
group is read with one indexed query. ``county_path`` places the problem in the county that handles it
(PRB-5) and ``arbiter_id`` names the common superior once a type-2 group goes to arbitration (PRB-2).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Id, Json, TreePath, UTCDateTime
from backend.models.enums import ProblemState, ProblemType


class ProblemRecord(Base):
    __tablename__ = "problem_record"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    record_id: Mapped[int] = mapped_column(Id, ForeignKey("student_record.id"), index=True)
    problem_type: Mapped[ProblemType] = mapped_column(Enum(ProblemType, native_enum=False, length=24))
    group_key: Mapped[str] = mapped_column(String(120))
    state: Mapped[ProblemState] = mapped_column(Enum(ProblemState, native_enum=False, length=20))
    unit_path: Mapped[str] = mapped_column(TreePath)
    graduating_year: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[str | None] = mapped_column(Text)
    evidence_ids: Mapped[list[int]] = mapped_column(Json, default=list)
    arbiter_id: Mapped[int | None] = mapped_column(Id, ForeignKey("unit.id"))
    resolution: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(default=1)

    __table_args__ = (
        Index("ix_problem_record_group_key", "problem_type", "group_key"),
        Index("ix_problem_record_unit_path_state", "unit_path", "state"),
    )
