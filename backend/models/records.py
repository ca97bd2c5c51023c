"""Classes and student records (FLD), with guardians, change history and national-number history.

A record keeps the fields that lists, statistics and duplicate checks filter on as columns and every other
FLD field in ``details`` (validated by the field catalogue in ``backend.domain.records.fields``), so a
province can add fields without a migration. ``unit_path`` copies the school's path so "all records below
this county" is one indexed range scan. ``version`` guards concurrent edits.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Enum, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Id, Json, TreePath, UTCDateTime
from backend.models.enums import (
    Gender,
    IdType,
    NumberKind,
    RecordStatus,
    RegistrationKind,
    RegistrationState,
    SchoolSystem,
    Stage,
)


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
    # Unique among live records only (``uq_student_record_national_number_live``): a deleted record keeps
    # the number it held, and the same person registered again gets that same G number back (NUM-6).
    national_number: Mapped[str] = mapped_column(String(19), index=True)
    number_kind: Mapped[NumberKind] = mapped_column(
        Enum(NumberKind, native_enum=False, length=1), default=NumberKind.L
    )
    # Key information (SEC-6): changed only through an approved change request once submitted.
    name: Mapped[str] = mapped_column(String(50))
    gender: Mapped[Gender] = mapped_column(Enum(Gender, native_enum=False, length=8))
    birth_date: Mapped[date] = mapped_column(Date)
    id_type: Mapped[IdType] = mapped_column(Enum(IdType, native_enum=False, length=20))
    id_number: Mapped[str | None] = mapped_column(String(32), index=True)
    photo_id: Mapped[int | None] = mapped_column(Id, ForeignKey("attachment.id"))
    # Filtered on by lists and statistics (MON-3), hence columns.
    ethnicity: Mapped[str | None] = mapped_column(String(4))
    nationality: Mapped[str | None] = mapped_column(String(3))
    is_left_behind: Mapped[bool] = mapped_column(Boolean, default=False)
    is_migrant_child: Mapped[bool] = mapped_column(Boolean, default=False)
    # Enrolment.
    school_id: Mapped[int] = mapped_column(Id, ForeignKey("unit.id"), index=True)
    unit_path: Mapped[str] = mapped_column(TreePath)
    class_id: Mapped[int | None] = mapped_column(Id, ForeignKey("school_class.id"), index=True)
    stage: Mapped[Stage] = mapped_column(Enum(Stage, native_enum=False, length=16))
    grade: Mapped[int] = mapped_column(Integer)
    entry_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[RecordStatus] = mapped_column(Enum(RecordStatus, native_enum=False, length=16))
    registration_kind: Mapped[RegistrationKind] = mapped_column(
        Enum(RegistrationKind, native_enum=False, length=16), default=RegistrationKind.IN_SCHOOL
    )
    registration_state: Mapped[RegistrationState] = mapped_column(
        Enum(RegistrationState, native_enum=False, length=16), default=RegistrationState.REGISTERED
    )
    # First formal registration (REG-4). Once set, key information stays locked even while the record is a
    # draft again, as after continuation into the next stage (REG-8 (3), SEC-6).
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Every other FLD field, keyed by the catalogue's field keys.
    details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_student_record_unit_path_id", "unit_path", "id"),
        Index("ix_student_record_name_gender_birth_date", "name", "gender", "birth_date"),
        Index("ix_student_record_unit_path_registration_state", "unit_path", "registration_state"),
        Index(
            "uq_student_record_national_number_live",
            "national_number",
            unique=True,
            sqlite_where=text("registration_state != 'DELETED'"),
            postgresql_where=text("registration_state != 'DELETED'"),
        ),
    )


class Guardian(Base):
    """A guardian or family member (FLD: 家庭成员或监护人)."""

    __tablename__ = "guardian"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    record_id: Mapped[int] = mapped_column(
        Id, ForeignKey("student_record.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(50))
    relation: Mapped[str] = mapped_column(String(20))
    is_guardian: Mapped[bool] = mapped_column(Boolean, default=True)
    ethnicity: Mapped[str | None] = mapped_column(String(4))
    employer: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(200))
    household_place: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    id_type: Mapped[IdType | None] = mapped_column(Enum(IdType, native_enum=False, length=20))
    id_number: Mapped[str | None] = mapped_column(String(32))
    duty: Mapped[str | None] = mapped_column(String(50))


class RecordHistory(Base):
    """One change to a record: who, when, why, old and new values, proof (SEC-7, CHG)."""

    __tablename__ = "record_history"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    record_id: Mapped[int] = mapped_column(Id, ForeignKey("student_record.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_id: Mapped[int | None] = mapped_column(Id, ForeignKey("app_user.id"))
    kind: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)
    # {field key: [old, new]}
    changes: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    proof_ids: Mapped[list[int]] = mapped_column(Json, default=list)
    change_request_id: Mapped[int | None] = mapped_column(Id, ForeignKey("change_request.id"))


class NationalNumberHistory(Base):
    """Every number a record has held, for life (NUM-2, NUM-5, NUM-6)."""

    __tablename__ = "national_number_history"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    record_id: Mapped[int] = mapped_column(Id, ForeignKey("student_record.id"), index=True)
    number: Mapped[str] = mapped_column(String(19), index=True)
    kind: Mapped[NumberKind] = mapped_column(Enum(NumberKind, native_enum=False, length=1))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(100))
