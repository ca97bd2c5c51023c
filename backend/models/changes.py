"""Controlled fields (CHG-1) and change requests for them (CHG-3, SEC-6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Id, Json, TreePath, UTCDateTime


class ControlledField(Base):
    """A field whose change needs approval, declared by a department for its own level (CHG-1)."""

    __tablename__ = "controlled_field"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    unit_id: Mapped[int] = mapped_column(Id, ForeignKey("unit.id"), index=True)
    field_key: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("unit_id", "field_key"),)


class ChangeRequest(Base):
    """A school's request to change controlled fields of one record, with proof (CHG-3)."""

    __tablename__ = "change_request"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    record_id: Mapped[int] = mapped_column(Id, ForeignKey("student_record.id"), index=True)
    unit_path: Mapped[str] = mapped_column(TreePath, index=True)
    # {field key: [old, new]} as requested
    changes: Mapped[dict[str, Any]] = mapped_column(Json)
    reason: Mapped[str] = mapped_column(Text)
    proof_ids: Mapped[list[int]] = mapped_column(Json, default=list)
    workflow_id: Mapped[int | None] = mapped_column(Id, ForeignKey("workflow_instance.id"), index=True)
    state: Mapped[str] = mapped_column(String(20))
    requested_by_id: Mapped[int] = mapped_column(Id, ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
