"""Refusals of status changes (STA-1..5), each with a stable code clients switch on.

Missing reason and a rejection without reason reuse the engine's ``REASON_REQUIRED``; a record that is
not formally registered reuses ``INVALID_REGISTRATION_STATE`` from the records feature.
"""

from __future__ import annotations

from backend.domain.errors import ConflictError, DomainError, ValidationError


class StatusChangeNotAllowedError(DomainError):
    """The province does not offer this type of status change in the record's stage (STA-3, CFG-2)."""

    code = "STATUS_CHANGE_NOT_ALLOWED"
    message = "本省未开放该学段的此类异动"


class InvalidStatusForChangeError(DomainError):
    """The record's current status does not fit the type (resumption only when suspended, CHG-7, ...)."""

    code = "INVALID_STATUS_FOR_CHANGE"
    message = "学生当前的学籍状态不能办理此类异动"


class ProofRequiredError(ValidationError):
    """Every status change is started with proof material (STA-2)."""

    code = "PROOF_REQUIRED"
    message = "办理学籍异动须上传证明材料"


class InvalidDetailsError(ValidationError):
    """A type-specific fact is missing or malformed; ``field`` is ``details.<key>``."""

    code = "INVALID_DETAILS"
    message = "异动信息填写有误"


class AbsenceTooShortError(ValidationError):
    """Other leave needs the student gone for more than three months (STA-4)."""

    code = "ABSENCE_TOO_SHORT"
    message = "学生离校未满3个月，不能办理其他离校"


class StatusChangeOpenError(ConflictError):
    """The record already has a status change in review: one at a time."""

    code = "STATUS_CHANGE_OPEN"
    message = "该学生有正在办理的学籍异动，请办结或撤回后再申请"


class TransferOpenError(ConflictError):
    """The record is in a transfer: the two businesses must not change one record at once."""

    code = "TRANSFER_OPEN"
    message = "该学生有正在办理的转学业务，请办结后再申请异动"


class StatusChangeOutdatedError(ConflictError):
    """The record changed after the request (its status or grade) so the approved change no longer fits."""

    code = "STATUS_CHANGE_OUTDATED"
    message = "学籍状态或年级在申请后已变化，该异动不能生效，请退回后重新申请"
