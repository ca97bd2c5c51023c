"""Errors of student-record use cases, each with a stable code (GLOSSARY names, Chinese messages)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backend.domain.errors import ConflictError, DomainError, ValidationError


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field.

    ``key`` is the catalogue key (``birthDate``) or a guardian's (``guardians[0].phone``).
    """

    key: str
    message_zh: str
    code: str = "INVALID_INPUT"


class RecordValidationError(ValidationError):
    """Every field error of one input at once, not the first only (FLD).

    ``errors`` holds them all; GraphQL maps each to a ``UserError`` with its field. ``field`` and
    ``message`` repeat the first one for callers that show a single error.
    """

    code = "INVALID_RECORD"
    message = "学籍信息有误"

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)
        first = self.errors[0] if self.errors else None
        super().__init__(
            first.message_zh if first else None,
            field=first.key if first else None,
        )


class RegistrationClosedError(DomainError):
    """The registration kind's business window is closed or its switch is off (REG-1..3, CFG-2)."""

    code = "REGISTRATION_CLOSED"
    message = "当前不在该注册业务的办理时间内"


class DuplicateRecordError(ConflictError):
    """The student already has a record (REG-7, REG-3, REG-5, PRB-2)."""

    code = "DUPLICATE_ID_NUMBER"
    message = "该身份证件号码已建有学籍，已有学籍的学生不得重复注册"


class RecordChangedError(ConflictError):
    """The record was changed since the caller read it (``version`` guard)."""

    code = "RECORD_CHANGED"
    message = "该学籍已被他人修改，请刷新后重试"


class RecordReadOnlyError(DomainError):
    """Graduated and completed records keep their basic information (CHG-7)."""

    code = "RECORD_READ_ONLY"
    message = "学生已毕业或结业，学籍基本信息不能再修改"


class RegistrationStateError(DomainError):
    """The registration is not in a state that allows the step (REG-4)."""

    code = "INVALID_REGISTRATION_STATE"
    message = "学籍当前的注册状态不允许此操作"


class OfficialNumberProtectedError(DomainError):
    """A record holding a G number may not be deleted unless the province allows it (NUM-4)."""

    code = "OFFICIAL_NUMBER_PROTECTED"
    message = "该学生已有“G”字头正式学籍号，原则上不得删除；如确需删除，须由省级教育行政部门报教育部处理"


class ContinuationConflictError(ConflictError):
    """The earlier-stage record can no longer be continued: gone, in review, or continued already (NUM-6)."""

    code = "CONTINUATION_CONFLICT"
    message = "该学生的原学籍已被删除、正在核办或已被其他学校接续，请重新比对"


class RecordBusyError(ConflictError):
    """The record has a transfer, status change or change request in progress: one business at a time."""

    code = "RECORD_BUSY"
    message = "该学生有正在办理的转学、异动或信息变更，请待其办结后再申请"
