"""Transfers (转学, TRF-1..9) and post-graduation cross-province study (毕业后跨省就学, TRF-10, TRF-11).

The receiving school starts the business for a student of another school; four parties review it (three
when both schools share a department), and a cross-province one ends with the receiving school's file
retrieval (调档). The record moves to the receiving school only when the business completes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Id, Json, TreePath, UTCDateTime
from backend.models.enums import BusinessState, TransferKind


class Transfer(Base):
    __tablename__ = "transfer"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[TransferKind] = mapped_column(Enum(TransferKind, native_enum=False, length=24))
    record_id: Mapped[int] = mapped_column(Id, ForeignKey("student_record.id"), index=True)
    cross_province: Mapped[bool] = mapped_column(Boolean)
    receiving_school_id: Mapped[int] = mapped_column(Id, ForeignKey("unit.id"))
    receiving_path: Mapped[str] = mapped_column(TreePath)
    sending_school_id: Mapped[int] = mapped_column(Id, ForeignKey("unit.id"))
    sending_path: Mapped[str] = mapped_column(TreePath)
    target_class_id: Mapped[int | None] = mapped_column(Id, ForeignKey("school_class.id"))
    target_grade: Mapped[int | None] = mapped_column(Integer)
    # The national number the receiving school quoted (TRF-2: required across provinces).
    national_number: Mapped[str | None] = mapped_column(String(19))
    reason: Mapped[str] = mapped_column(Text)
    # The stamped transfer application and any other proof (TRF-1).
    application_ids: Mapped[list[int]] = mapped_column(Json, default=list)
    # Done offline first at the parents' request, recorded afterwards (TRF-7).
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    state: Mapped[BusinessState] = mapped_column(Enum(BusinessState, native_enum=False, length=20))
    workflow_id: Mapped[int | None] = mapped_column(Id, ForeignKey("workflow_instance.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(Id, ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_transfer_receiving_path_state", "receiving_path", "state"),
        Index("ix_transfer_sending_path_state", "sending_path", "state"),
    )
