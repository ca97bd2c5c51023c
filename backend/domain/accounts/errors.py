"""Errors of sign-in and account administration, each with a stable code."""

from __future__ import annotations

from datetime import datetime

from backend.clock import local
from backend.domain.errors import ConflictError, DomainError, UnauthenticatedError, ValidationError


class InvalidCredentialsError(DomainError):
    code = "INVALID_CREDENTIALS"
    message = "用户名或密码错误"


class AccountLockedError(DomainError):
    """Locked after repeated failures (SEC-1); the message says until when, in Beijing time."""

    code = "ACCOUNT_LOCKED"

    def __init__(self, until: datetime) -> None:
        self.until = until
        super().__init__(f"连续登录失败次数过多，账号已锁定至 {local(until):%Y-%m-%d %H:%M}（北京时间）")


class SessionExpiredError(UnauthenticatedError):
    code = "SESSION_EXPIRED"
    message = "登录已超时，请重新登录"


class WrongCurrentPasswordError(ValidationError):
    code = "WRONG_PASSWORD"
    message = "当前密码不正确"


class UsernameTakenError(ConflictError):
    code = "USERNAME_TAKEN"
    message = "用户名已被使用"


class InvalidUsernameError(ValidationError):
    code = "INVALID_USERNAME"
    message = "用户名须为3至64位小写字母、数字、点、下划线或连字符，并以字母或数字开头"


class RoleConflictError(ValidationError):
    """System administrators configure; they never hold business roles as well (ORG-2)."""

    code = "ROLE_CONFLICT"
    message = "系统管理员不能同时担任学籍管理员或学籍主管领导"


class SelfModificationError(ValidationError):
    code = "SELF_MODIFICATION"
    message = "不能修改自己的角色或停用自己的账号"


class DelegationInvalidError(ValidationError):
    code = "DELEGATION_INVALID"
    message = "委托无效"


class DelegationInactiveError(DomainError):
    code = "DELEGATION_INACTIVE"
    message = "委托不在有效期内或已撤销"
