"""Continuation imports (学籍接续, REG-8/REG-9): an uploaded new-student list and its classified rows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Enum, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Id, Json, TreePath, UTCDateTime
from backend.models.enums import Gender, IdType, ImportRowState


class ContinuationImport(Base):
    __tablename__ = "continuation_import"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    school_id: Mapped[int] = mapped_column(Id, ForeignKey("unit.id"), index=True)
    unit_path: Mapped[str] = mapped_column(TreePath, index=True)
    attachment_id: Mapped[int | None] = mapped_column(Id, ForeignKey("attachment.id"))
    state: Mapped[str] = mapped_column(String(20))
    # VOCATIONAL for the six-column vocational list (REG-9), else the five-column list (REG-8).
    target_stage: Mapped[str] = mapped_column(String(16))
    counts: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(Id, ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContinuationRow(Base):
    __tablename__ = "continuation_row"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    import_id: Mapped[int] = mapped_column(
        Id, ForeignKey("continuation_import.id", ondelete="CASCADE"), index=True
    )
    row_number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(50))
    gender: Mapped[Gender | None] = mapped_column(Enum(Gender, native_enum=False, length=8))
    birth_date: Mapped[date | None] = mapped_column(Date)
    id_type: Mapped[IdType | None] = mapped_column(Enum(IdType, native_enum=False, length=20))
    id_number: Mapped[str | None] = mapped_column(String(32))
    national_number: Mapped[str | None] = mapped_column(String(19))
    state: Mapped[ImportRowState] = mapped_column(Enum(ImportRowState, native_enum=False, length=16))
    candidate_ids: Mapped[list[int]] = mapped_column(Json, default=list)
    # Plain ids, no foreign keys: records are never removed (deletion is a state, NUM-4), and a foreign key
    # would make every stored row take a KEY SHARE lock on its matched record — 7,000 locks held by a
    # 10,000-row import, blocking edits of those records and costing most of the import's write time.
    matched_record_id: Mapped[int | None] = mapped_column(Id)
    record_id: Mapped[int | None] = mapped_column(Id)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    # The other FLD fields, filled in through the exported sheet (REG-8 step 3).
    details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
