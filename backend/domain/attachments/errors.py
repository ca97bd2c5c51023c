"""Errors of the attachment store, each with a stable code."""

from __future__ import annotations

from backend.domain.errors import DomainError, ValidationError


class AttachmentTooLargeError(ValidationError):
    code = "ATTACHMENT_TOO_LARGE"
    message = "文件过大"


class AttachmentTypeNotAllowedError(ValidationError):
    code = "ATTACHMENT_TYPE_NOT_ALLOWED"
    message = "不支持该文件类型"


class AttachmentUnavailableError(DomainError):
    """The row exists but its bytes are missing or no longer match their hash: an operations problem."""

    code = "ATTACHMENT_UNAVAILABLE"
    message = "文件暂时无法读取，请联系系统管理员"
