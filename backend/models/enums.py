"""The vocabulary shared by models, services and the GraphQL schema (names from GLOSSARY.md)."""

from __future__ import annotations

import enum


class UnitKind(enum.StrEnum):
    MINISTRY = "MINISTRY"
    PROVINCE = "PROVINCE"
    CITY = "CITY"
    COUNTY = "COUNTY"
    SCHOOL = "SCHOOL"


class Stage(enum.StrEnum):
    PRESCHOOL = "PRESCHOOL"
    PRIMARY = "PRIMARY"
    JUNIOR = "JUNIOR"
    SENIOR = "SENIOR"
    VOCATIONAL = "VOCATIONAL"


class SchoolSystem(enum.StrEnum):
    """学制: how grades 1–9 split between primary and junior (TRF-8)."""

    SIX_THREE = "SIX_THREE"
    FIVE_FOUR = "FIVE_FOUR"


class Role(enum.StrEnum):
    """Record-system roles (ORG-2) and support-platform account types (IME-5)."""

    REGISTRAR = "REGISTRAR"
    LEADER = "LEADER"
    SYSTEM_ADMINISTRATOR = "SYSTEM_ADMINISTRATOR"
    SUPER_ADMINISTRATOR = "SUPER_ADMINISTRATOR"
    RECORD_SYSTEM_ADMINISTRATOR = "RECORD_SYSTEM_ADMINISTRATOR"
    ORDINARY_USER = "ORDINARY_USER"


class Gender(enum.StrEnum):
    MALE = "MALE"
    FEMALE = "FEMALE"


class IdType(enum.StrEnum):
    RESIDENT_ID = "RESIDENT_ID"
    PASSPORT = "PASSPORT"
    HK_MACAO_PERMIT = "HK_MACAO_PERMIT"
    TAIWAN_PERMIT = "TAIWAN_PERMIT"
    NONE = "NONE"


class RecordStatus(enum.StrEnum):
    IN_SCHOOL = "IN_SCHOOL"
    SUSPENDED = "SUSPENDED"
    GRADUATED = "GRADUATED"
    COMPLETED = "COMPLETED"
    DROPPED_OUT = "DROPPED_OUT"
    ABROAD = "ABROAD"
    WITHDRAWN = "WITHDRAWN"
    EXPELLED = "EXPELLED"
    DECEASED = "DECEASED"
    OTHER_LEAVE = "OTHER_LEAVE"


class NumberKind(enum.StrEnum):
    """National number kinds (NUM-1..3): official G, official-without-ID J, temporary L."""

    G = "G"
    J = "J"
    L = "L"


class RegistrationKind(enum.StrEnum):
    """How a record came to be (REG-1..REG-9)."""

    IN_SCHOOL = "IN_SCHOOL"
    PRIMARY_NEW = "PRIMARY_NEW"
    RETURNING = "RETURNING"
    NON_GRADE_ONE = "NON_GRADE_ONE"
    CONTINUATION = "CONTINUATION"


class RegistrationState(enum.StrEnum):
    """A record's way to formal registration (REG-4): drafted by the school, reviewed, registered."""

    DRAFT = "DRAFT"
    IN_REVIEW = "IN_REVIEW"
    RETURNED = "RETURNED"
    REGISTERED = "REGISTERED"
    DELETED = "DELETED"


class ProblemType(enum.StrEnum):
    """Problem-record types (PRB-1..3)."""

    ID_ERROR = "ID_ERROR"
    DUPLICATE_WITH_ID = "DUPLICATE_WITH_ID"
    DUPLICATE_WITHOUT_ID = "DUPLICATE_WITHOUT_ID"


class ProblemState(enum.StrEnum):
    OPEN = "OPEN"
    EVIDENCE_SUBMITTED = "EVIDENCE_SUBMITTED"
    CONFIRMED = "CONFIRMED"
    ARBITRATION = "ARBITRATION"
    RESOLVED = "RESOLVED"


class WorkflowState(enum.StrEnum):
    OPEN = "OPEN"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"
    CANCELLED = "CANCELLED"


class StepKind(enum.StrEnum):
    """A review step decides; a retrieval step is the receiving school fetching the file (TRF-2, TRF-3)."""

    REVIEW = "REVIEW"
    RETRIEVAL = "RETRIEVAL"


class DeadlineAction(enum.StrEnum):
    """What a step's deadline does (TRF-3, TRF-4): record it overdue, count it approved, or cancel."""

    RECORD_OVERDUE = "RECORD_OVERDUE"
    APPROVE = "APPROVE"
    CANCEL = "CANCEL"


class StatusChangeType(enum.StrEnum):
    """Status changes other than transfer (STA-1)."""

    SUSPENSION = "SUSPENSION"
    RESUMPTION = "RESUMPTION"
    REPEAT = "REPEAT"
    SKIP = "SKIP"
    DROPOUT = "DROPOUT"
    DEATH = "DEATH"
    STUDY_ABROAD = "STUDY_ABROAD"
    WITHDRAWAL = "WITHDRAWAL"
    EXPULSION = "EXPULSION"
    OTHER_LEAVE = "OTHER_LEAVE"


class BusinessState(enum.StrEnum):
    """Where a status change or transfer stands; the workflow instance holds the steps."""

    IN_REVIEW = "IN_REVIEW"
    AWAITING_RETRIEVAL = "AWAITING_RETRIEVAL"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"
    CANCELLED = "CANCELLED"


class TransferKind(enum.StrEnum):
    """A transfer (TRF-1..9) or post-graduation cross-province study (TRF-10, TRF-11)."""

    TRANSFER = "TRANSFER"
    POST_GRADUATION_STUDY = "POST_GRADUATION_STUDY"


class StepState(enum.StrEnum):
    WAITING = "WAITING"
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    SKIPPED = "SKIPPED"


class ImportRowState(enum.StrEnum):
    """Continuation rows (REG-8): matched, to confirm, not found, or invalid input."""

    MATCHED = "MATCHED"
    TO_CONFIRM = "TO_CONFIRM"
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
