"""What account changes tell the other server processes: "this user's sessions changed".

Services call ``sessions_changed`` inside their unit of work; the notice is broadcast after commit, and
every process drops what it cached about that user's sessions (``backend.realtime.session_cache``).
"""

from __future__ import annotations

from backend.db import UnitOfWork

AUTH_CHANNEL = "auth"


def user_notice(user_id: int) -> str:
    return f"user:{user_id}"


def sessions_changed(uow: UnitOfWork, user_id: int) -> None:
    uow.notify(AUTH_CHANNEL, user_notice(user_id))
