"""The one error type the domain raises on bad input or a refused operation.

Each subclass has a stable English ``code`` (UPPER_SNAKE) that clients switch on, a Simplified Chinese
``message`` for people, and optionally the input ``field`` at fault. The GraphQL layer maps these to
``UserError`` payload entries; nothing else ever reaches a client.
"""

from __future__ import annotations


class DomainError(Exception):
    code = "INVALID"
    message = "请求无效"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or type(self).message
        self.field = field
        super().__init__(self.message)


class NotFoundError(DomainError):
    """Absent, or outside the caller's jurisdiction: the two must be indistinguishable."""

    code = "NOT_FOUND"
    message = "对象不存在"


class ForbiddenError(DomainError):
    code = "FORBIDDEN"
    message = "无权执行此操作"


class UnauthenticatedError(DomainError):
    code = "UNAUTHENTICATED"
    message = "请先登录"


class ValidationError(DomainError):
    code = "INVALID_INPUT"
    message = "输入无效"


class ConflictError(DomainError):
    code = "CONFLICT"
    message = "数据已被他人修改，请刷新后重试"
