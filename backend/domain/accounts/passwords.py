"""Password hashing (argon2id) and the password policy (SEC-1).

Hashing costs tens of milliseconds on purpose, so it runs in a worker thread and never blocks the event
loop. The policy: at least 8 characters with digits, upper- and lower-case letters and symbols, not the
user name, and none of the last few passwords again.
"""

from __future__ import annotations

import string
from functools import lru_cache

import anyio.to_thread
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from backend.domain.errors import ValidationError

MIN_LENGTH = 8
MAX_LENGTH = 128


class WeakPasswordError(ValidationError):
    code = "WEAK_PASSWORD"
    message = "密码至少8位，须同时包含数字、大写字母、小写字母和符号"


class PasswordContainsUsernameError(ValidationError):
    code = "PASSWORD_CONTAINS_USERNAME"
    message = "密码不能包含用户名"


class PasswordReusedError(ValidationError):
    code = "PASSWORD_REUSED"
    message = "不能使用最近使用过的密码"


@lru_cache(maxsize=8)
def hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1, type=Type.ID)


def hash_password_sync(password: str, time_cost: int, memory_kib: int) -> str:
    return hasher(time_cost, memory_kib).hash(password)


async def hash_password(password: str, time_cost: int, memory_kib: int) -> str:
    return await anyio.to_thread.run_sync(hash_password_sync, password, time_cost, memory_kib)


def verify_password_sync(password_hash: str, password: str) -> bool:
    try:
        return PasswordHasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str, password: str) -> bool:
    return await anyio.to_thread.run_sync(verify_password_sync, password_hash, password)


def check_password_policy(password: str, username: str, *, field: str = "newPassword") -> None:
    """Refuse a password that breaks the complexity rules (SEC-1)."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise WeakPasswordError(field=field)
    classes = (
        any(c.isdigit() for c in password),
        any(c.isupper() for c in password),
        any(c.islower() for c in password),
        any(c in string.punctuation or not c.isalnum() for c in password),
    )
    if not all(classes):
        raise WeakPasswordError(field=field)
    if username and username.lower() in password.lower():
        raise PasswordContainsUsernameError(field=field)


async def check_not_reused(password: str, recent_hashes: list[str], *, field: str) -> None:
    """Refuse a password equal to one of ``recent_hashes`` (SEC-1: last five not reused)."""
    for recent in recent_hashes:
        if await verify_password(recent, password):
            raise PasswordReusedError(field=field)
