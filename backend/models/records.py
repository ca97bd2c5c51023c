"""Classes and student records: the minimal core the foundation needs (demo data, jurisdiction).

The records issue extends this with every FLD field, history, problem records and national numbers.
``unit_path`` copies the school's path so "all records below this county" is one indexed range scan.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Id, TreePath, UTCDateTime
from backend.models.enums import Gender, IdType, RecordStatus, SchoolSystem, Stage


class SchoolClass(Base):
    __tablename__ = "school_class"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    school_id: Mapped[int] = mapped_column(Id, ForeignKey("unit.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    stage: Mapped[Stage] = mapped_column(Enum(Stage, native_enum=False, length=16))
    grade: Mapped[int] = mapped_column(Integer)
    entry_year: Mapped[int] = mapped_column(Integer)
    school_system: Mapped[SchoolSystem] = mapped_column(Enum(SchoolSystem, native_enum=False, length=16))
    head_teacher: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StudentRecord(Base):
    __tablename__ = "student_record"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    national_number: Mapped[str] = mapped_column(String(19), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    gender: Mapped[Gender] = mapped_column(Enum(Gender, native_enum=False, length=8))
    birth_date: Mapped[date] = mapped_column(Date)
    id_type: Mapped[IdType] = mapped_column(Enum(IdType, native_enum=False, length=20))
    id_number: Mapped[str | None] = mapped_column(String(32), index=True)
    school_id: Mapped[int] = mapped_column(Id, ForeignKey("unit.id"), index=True)
    unit_path: Mapped[str] = mapped_column(TreePath)
    class_id: Mapped[int | None] = mapped_column(Id, ForeignKey("school_class.id"), index=True)
    stage: Mapped[Stage] = mapped_column(Enum(Stage, native_enum=False, length=16))
    grade: Mapped[int] = mapped_column(Integer)
    status: Mapped[RecordStatus] = mapped_column(Enum(RecordStatus, native_enum=False, length=16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_student_record_unit_path_id", "unit_path", "id"),
        Index("ix_student_record_name_gender_birth_date", "name", "gender", "birth_date"),
    )
