"""The organisation tree (ORG-1): ministry > province > city > county > school.

Branch schools sit below their central school.
``path`` is a materialised path of ancestor ids (``/1/4/9/``), so "everything below X" is one range scan
on an index and the common superior of two units (ORG-4) is read off two paths without a recursive query.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Id, TreePath, UTCDateTime
from backend.models.enums import SchoolSystem, UnitKind


class Unit(Base):
    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[UnitKind] = mapped_column(Enum(UnitKind, native_enum=False, length=16))
    name: Mapped[str] = mapped_column(String(100))
    # 行政区划码 for departments, 学校标识码 for schools (ORG-1).
    code: Mapped[str] = mapped_column(String(20), unique=True)
    parent_id: Mapped[int | None] = mapped_column(Id, ForeignKey("unit.id", ondelete="RESTRICT"), index=True)
    path: Mapped[str] = mapped_column(TreePath, unique=True)
    depth: Mapped[int] = mapped_column(Integer)
    is_central_school: Mapped[bool] = mapped_column(Boolean, default=False)
    stages: Mapped[list[str]] = mapped_column(JSON, default=list)
    school_system: Mapped[SchoolSystem | None] = mapped_column(
        Enum(SchoolSystem, native_enum=False, length=16)
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_unit_kind_path", "kind", "path"),)
