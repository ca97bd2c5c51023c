"""Errors of the approval engine, each with a stable code."""

from __future__ import annotations

from backend.domain.errors import ConflictError, ValidationError


class WorkflowConflictError(ConflictError):
    """Someone else moved the instance first (a stale version, a finished business, a lost race)."""

    code = "WORKFLOW_CONFLICT"
    message = "该事项已被他人处理，请刷新"


class WorkflowAlreadyOpenError(ConflictError):
    code = "WORKFLOW_ALREADY_OPEN"
    message = "该事项已在办理中，不能重复提交"


class DuplicateRequestError(ConflictError):
    """The same idempotency key is being used by a request still in flight."""

    code = "DUPLICATE_REQUEST"
    message = "相同的请求正在处理，请稍后刷新"


class ReasonRequiredError(ValidationError):
    """A rejection (or cancellation) must say why (REG-4: a doubtful record goes back with a reason)."""

    code = "REASON_REQUIRED"
    message = "请填写退回理由"

    def __init__(self, message: str | None = None, *, field: str | None = "comment") -> None:
        super().__init__(message, field=field)


class CommentRequiredError(ValidationError):
    code = "COMMENT_REQUIRED"
    message = "请填写意见或上传附件"

    def __init__(self, message: str | None = None, *, field: str | None = "comment") -> None:
        super().__init__(message, field=field)


class CommentTooLongError(ValidationError):
    code = "COMMENT_TOO_LONG"
    message = "意见不能超过2000字"

    def __init__(self, message: str | None = None, *, field: str | None = "comment") -> None:
        super().__init__(message, field=field)


class InvalidIdempotencyKeyError(ValidationError):
    code = "INVALID_IDEMPOTENCY_KEY"
    message = "请求标识无效，或已用于其他操作"

    def __init__(self, message: str | None = None, *, field: str | None = "idempotencyKey") -> None:
        super().__init__(message, field=field)


class RetrievalStepError(ConflictError):
    """A file-retrieval step is completed by the business's retrieval, not by approving (TRF-2, TRF-3)."""

    code = "USE_FILE_RETRIEVAL"
    message = "该环节为调档，请通过“调档”办理；如不再转入，请撤回申请"
