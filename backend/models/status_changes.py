"""Status changes other than transfer (非转学异动, STA-1..5): a request, its proof and its review.

The request keeps what it will change (status, grade) and takes effect only when its review approves
(STA-2); the workflow instance holds the steps and the hash-chained decisions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Id, Json, TreePath, UTCDateTime
from backend.models.enums import BusinessState, RecordStatus, StatusChangeType


class StatusChange(Base):
    __tablename__ = "status_change"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    record_id: Mapped[int] = mapped_column(Id, ForeignKey("student_record.id"), index=True)
    school_id: Mapped[int] = mapped_column(Id, ForeignKey("unit.id"))
    unit_path: Mapped[str] = mapped_column(TreePath)
    change_type: Mapped[StatusChangeType] = mapped_column(
        Enum(StatusChangeType, native_enum=False, length=16)
    )
    reason: Mapped[str] = mapped_column(Text)
    proof_ids: Mapped[list[int]] = mapped_column(Json, default=list)
    # Type-specific facts: destination country, expected return date, the grade to move to, ...
    details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    from_status: Mapped[RecordStatus] = mapped_column(Enum(RecordStatus, native_enum=False, length=16))
    to_status: Mapped[RecordStatus] = mapped_column(Enum(RecordStatus, native_enum=False, length=16))
    from_grade: Mapped[int] = mapped_column(Integer)
    to_grade: Mapped[int] = mapped_column(Integer)
    state: Mapped[BusinessState] = mapped_column(Enum(BusinessState, native_enum=False, length=20))
    workflow_id: Mapped[int | None] = mapped_column(Id, ForeignKey("workflow_instance.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(Id, ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_status_change_unit_path_state", "unit_path", "state"),)
