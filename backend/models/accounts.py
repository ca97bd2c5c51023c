"""Accounts, roles, sign-in sessions, the sign-in log and delegations (ORG-2, SEC-1, SEC-2, IME-5).

Session tokens are opaque; only their SHA-256 is stored, so a leaked table cannot be replayed.
The sign-in log keeps every attempt, success or failure: weekly-login monitoring (MON-1) reads it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Id, UTCDateTime
from backend.models.enums import Role


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    unit_id: Mapped[int] = mapped_column(Id, ForeignKey("unit.id", ondelete="RESTRICT"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserRole(Base):
    __tablename__ = "user_role"

    user_id: Mapped[int] = mapped_column(Id, ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=32), primary_key=True)


class PasswordHistory(Base):
    """Earlier password hashes, so the last few cannot be reused (SEC-1)."""

    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Delegation(Base):
    """A registered, time-limited delegation: the grantee acts in the grantor's capacity (SEC-2).

    Registered by a system administrator of the grantor's unit; every use is attributed to the grantee.
    """

    __tablename__ = "delegation"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    grantor_id: Mapped[int] = mapped_column(Id, ForeignKey("app_user.id"), index=True)
    grantee_id: Mapped[int] = mapped_column(Id, ForeignKey("app_user.id"), index=True)
    registered_by_id: Mapped[int] = mapped_column(Id, ForeignKey("app_user.id"))
    unit_id: Mapped[int] = mapped_column(Id, ForeignKey("unit.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthSession(Base):
    __tablename__ = "auth_session"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    # Set when the session acts for another user under a delegation; user_id is then the grantee.
    delegation_id: Mapped[int | None] = mapped_column(Id, ForeignKey("delegation.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))


class SignInEvent(Base):
    """One sign-in attempt, successful or not (MON-1 reads the successes)."""

    __tablename__ = "sign_in_event"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    username: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(Id, ForeignKey("app_user.id", ondelete="SET NULL"))
    unit_id: Mapped[int | None] = mapped_column(Id, ForeignKey("unit.id", ondelete="SET NULL"))
    success: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(40))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        Index("ix_sign_in_event_user_id_at", "user_id", "at"),
        Index("ix_sign_in_event_unit_id_at", "unit_id", "at"),
    )
