"""Helpers for the monitoring tests: sign-ins written as the sign-in service leaves them, and reads."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from backend.db import UnitOfWork
from backend.domain.actor import Actor
from backend.models import LoginReminder, Notification, SignInEvent, User
from tests.domain.workflows.support import World


async def signed_in(uow: UnitOfWork, who: Actor, at: datetime, *, success: bool = True) -> None:
    """A sign-in attempt of ``who`` at ``at``: the log row, and on success the account's mark."""
    uow.session.add(
        SignInEvent(
            at=at,
            username=who.username,
            user_id=who.user_id,
            unit_id=who.unit_id,
            success=success,
            reason="OK" if success else "WRONG_PASSWORD",
        )
    )
    if success:
        await uow.session.execute(update(User).where(User.id == who.user_id).values(last_sign_in_at=at))


async def last_seen(w: World, at: datetime, people: Iterable[Actor]) -> None:
    """Set the last sign-in of ``people`` to ``at`` (no log rows: only the job reads this mark)."""
    async with w.uow() as uow:
        await uow.session.execute(
            update(User).where(User.id.in_([p.user_id for p in people])).values(last_sign_in_at=at)
        )


async def reminders(w: World) -> list[tuple[int, str, datetime]]:
    async with w.db.read_session() as session:
        rows = await session.execute(
            select(LoginReminder.user_id, LoginReminder.level, LoginReminder.absent_since).order_by(
                LoginReminder.id
            )
        )
        return [(user_id, level, since) for user_id, level, since in rows]


async def told(w: World) -> list[tuple[int, dict[str, Any]]]:
    """``(recipient, payload)`` of every LOGIN_REMINDER notification, in order."""
    async with w.db.read_session() as session:
        rows = await session.execute(
            select(Notification.recipient_id, Notification.payload)
            .where(Notification.kind == "LOGIN_REMINDER")
            .order_by(Notification.id)
        )
        return [(recipient, dict(payload)) for recipient, payload in rows]
