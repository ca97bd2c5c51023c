"""Notifications as data: the per-recipient event log, delivery preferences, and the durable outbox.

The database is the source of truth for everything a user is told. A fact worth telling (a step now waits on
you, your request was decided, a deadline is near, a step went overdue, an announcement) is a
``Notification`` row written in the same transaction as the change that caused it, numbered per recipient
``1, 2, 3, …`` (``seq``): a subscriber that knows the last number it saw asks for the rest and misses
nothing, however its socket or the broadcast layer fared. Email and SMS go through ``OutboxMessage`` rows,
so that an SMTP outage or a crash loses nothing and, with ``dedupe_key``, sends nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Id, Json, UTCDateTime


class Notification(Base):
    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    recipient_id: Mapped[int] = mapped_column(Id, ForeignKey("app_user.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # The cursor of the catch-up, and the guard that keeps each recipient's numbering gapless in order.
        UniqueConstraint("recipient_id", "seq"),
        # The retention sweep.
        Index("ix_notification_created_at", "created_at"),
    )


class NotificationPreference(Base):
    """Which kinds reach a user by which channel, quiet hours, and the daily digest (issue: notifications)."""

    __tablename__ = "notification_preference"

    user_id: Mapped[int] = mapped_column(Id, ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    # {kind: ["EMAIL", "SMS"]}; in-app always. Kinds not listed use the defaults.
    channels: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # "HH:MM" local (Asia/Shanghai); no email or SMS between them, held until the end.
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    daily_digest: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """One email or SMS to send, durably: retried with back-off until sent or given up."""

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))  # EMAIL | SMS
    recipient_id: Mapped[int | None] = mapped_column(Id, ForeignKey("app_user.id", ondelete="SET NULL"))
    address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    notification_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("notification.id", ondelete="SET NULL")
    )
    # Sending the same message twice is refused by this key (a retry of the cause, a re-run of a job).
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    state: Mapped[str] = mapped_column(String(12))  # PENDING | SENDING | SENT | DEAD
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_outbox_message_state_next_attempt_at", "state", "next_attempt_at"),)


class LoginReminder(Base):
    """A weekly-login reminder sent (MON-1): to the account after 7 days, to its unit's leader after 14."""

    __tablename__ = "login_reminder"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("app_user.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(12))  # ACCOUNT (7 days) | LEADER (14 days)
    # The last sign-in the reminder is about ("never" as the account's creation): one reminder per absence.
    absent_since: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("user_id", "level", "absent_since"),)
