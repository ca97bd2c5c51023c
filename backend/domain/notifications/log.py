"""Writing and reading the event log: one INSERT per fact, however many recipients it has.

``notify_users`` and ``notify_unit_role`` add one ``Notification`` row per recipient with one
``INSERT … SELECT``, numbering each recipient's rows ``1, 2, 3, …`` from the highest it has (on the unique
``(recipient_id, seq)`` index, so the lookup is a single index probe). Two transactions notifying the same
user at the same moment would pick the same number: the unique index lets only one commit, and the edge
retries the loser's whole operation (``SequenceConflictError``), so each user's numbers follow commit order
without gaps — the property the loss-free catch-up relies on.

After commit the recipients' wake-up goes out on the hub (``NOTIFY_CHANNEL``, ``"<user id>:<seq>,…"``, one
message per ``WAKE_CHUNK`` recipients, so telling a whole province is a handful of messages, not one per
person): the broadcast only wakes listeners, which read the rows themselves — for every subscription of a
process at once with ``since_many``.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Row,
    Select,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from backend.db import UnitOfWork
from backend.domain.actor import Actor
from backend.domain.audit.service import record_audit
from backend.domain.errors import ConflictError
from backend.domain.permissions import Operation, authorize
from backend.models import Notification, User, UserRole
from backend.models.enums import Role

NOTIFY_CHANNEL = "notify"
WAKE_CHUNK = 2_000
# How PostgreSQL and SQLite name the violated index in their messages.
SEQUENCE_CONFLICT_MARKS = ("uq_notification_recipient_id_seq", "notification.recipient_id, notification.seq")


class NotificationKind(enum.StrEnum):
    """The facts worth telling someone (the notifications issue)."""

    STEP_PENDING = "STEP_PENDING"  # a step now waits on your unit and role
    DECIDED = "DECIDED"  # your request was approved, rejected, cancelled
    DEADLINE_NEAR = "DEADLINE_NEAR"  # a step of yours is due in 2 working days
    STEP_OVERDUE = "STEP_OVERDUE"  # a step of yours passed its due date
    LOGIN_REMINDER = "LOGIN_REMINDER"  # no sign-in for 7 days (MON-1)
    ANNOUNCEMENT = "ANNOUNCEMENT"
    MESSAGE = "MESSAGE"


class SequenceConflictError(ConflictError):
    """Another transaction numbered a notification of the same recipient first; run the operation again."""

    code = "SEQUENCE_CONFLICT"
    message = "系统繁忙，请重试"


async def notify_users(
    uow: UnitOfWork, user_ids: Collection[int], kind: NotificationKind, payload: Mapping[str, Any]
) -> int:
    """Tell these (active) users ``kind``; returns how many rows were written."""
    if not user_ids:
        return 0
    recipients = select(User.id.label("user_id")).where(User.id.in_(sorted(set(user_ids))), User.is_active)
    return await _insert(uow, recipients, kind, payload)


async def notify_unit_role(
    uow: UnitOfWork, unit_id: int, role: Role, kind: NotificationKind, payload: Mapping[str, Any]
) -> int:
    """Tell every active account of ``unit_id`` holding ``role`` (a step waits on a unit and role)."""
    recipients = (
        select(User.id.label("user_id"))
        .join(UserRole, and_(UserRole.user_id == User.id, UserRole.role == role))
        .where(User.unit_id == unit_id, User.is_active)
    )
    return await _insert(uow, recipients, kind, payload)


async def _insert(
    uow: UnitOfWork, recipients: Select[Any], kind: NotificationKind, payload: Mapping[str, Any]
) -> int:
    source = recipients.subquery()
    return await _write(uow, source.c.user_id, kind, literal(dict(payload), Notification.payload.type))


async def notify_counts(
    uow: UnitOfWork, counts: Select[int, int], kind: NotificationKind, payload: Mapping[str, str]
) -> int:
    """One notification per user of ``counts``, saying how many of something concern them; one INSERT.

    ``counts`` selects ``(user_id, count)``, one row per user; the payload is ``{"count": n, **payload}``.
    For the sweeps, which find many steps at once: a user is told once, with the number, not once a step.
    """
    source = counts.subquery()
    user_id, count = source.c[0], source.c[1]
    pairs: list[Any] = [literal("count"), count]
    for key, value in payload.items():
        pairs += [literal(key), literal(value)]
    if uow.session.get_bind().dialect.name == "postgresql":
        body: Any = cast(func.json_build_object(*pairs), JSONB)
    else:
        body = func.json(func.json_object(*pairs))
    return await _write(uow, user_id, kind, body)


async def _write(uow: UnitOfWork, user_id: Any, kind: NotificationKind, body: Any) -> int:
    """``INSERT … SELECT`` one row per ``user_id`` of the source, numbered after the user's highest.

    A transaction that numbered the same recipient first makes this one lose on the unique index:
    ``SequenceConflictError``, which the edge answers by running the operation again.
    """
    highest = (
        select(func.coalesce(func.max(Notification.seq), 0))
        .where(Notification.recipient_id == user_id)
        .scalar_subquery()
    )
    rows = select(
        user_id, highest + 1, literal(str(kind)), body, literal(uow.clock.now(), Notification.created_at.type)
    )
    stmt = (
        insert(Notification)
        .from_select(
            [
                Notification.recipient_id,
                Notification.seq,
                Notification.kind,
                Notification.payload,
                Notification.created_at,
            ],
            rows,
        )
        .returning(Notification.recipient_id, Notification.seq)
    )
    try:
        written = (await uow.session.execute(stmt)).all()
    except IntegrityError as error:
        if any(mark in str(error.orig) for mark in SEQUENCE_CONFLICT_MARKS):
            raise SequenceConflictError() from error
        raise
    _wake(uow, written)
    return len(written)


def _wake(uow: UnitOfWork, written: Sequence[Row[int, int]]) -> None:
    """Queue the recipients' wake-ups for after commit, ``WAKE_CHUNK`` recipients a message."""
    for start in range(0, len(written), WAKE_CHUNK):
        chunk = written[start : start + WAKE_CHUNK]
        uow.notify(NOTIFY_CHANNEL, ",".join(f"{user_id}:{seq}" for user_id, seq in chunk))


def woken_users(message: str) -> list[int]:
    """The recipients a ``NOTIFY_CHANNEL`` message wakes (malformed parts are ignored)."""
    users = []
    for part in message.split(","):
        user, _, _ = part.partition(":")
        if user.isdigit():
            users.append(int(user))
    return users


async def sweep_notifications(uow: UnitOfWork, *, keep_days: int) -> int:
    """Remove notifications older than ``keep_days``, keeping each recipient's latest (its numbering).

    A client whose cursor falls in the removed range is told to resync (``since``).
    """
    newer = aliased(Notification)
    cutoff = uow.clock.now() - timedelta(days=keep_days)
    result = await uow.session.execute(
        delete(Notification).where(
            Notification.created_at < cutoff,
            exists().where(newer.recipient_id == Notification.recipient_id, newer.seq > Notification.seq),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def mark_read(uow: UnitOfWork, actor: Actor, up_to: int) -> int:
    """Mark the actor's own notifications numbered up to ``up_to`` as read; audited. Returns how many."""
    authorize(actor, Operation.VIEW_OWN_ACCOUNT)
    result = await uow.session.execute(
        update(Notification)
        .where(
            Notification.recipient_id == actor.user_id,
            Notification.seq <= up_to,
            Notification.read_at.is_(None),
        )
        .values(read_at=uow.clock.now())
    )
    marked = int(getattr(result, "rowcount", 0) or 0)
    await record_audit(
        uow,
        actor=actor,
        operation="notifications.read",
        target_type="user",
        target_id=actor.user_id,
        after={"upTo": up_to, "marked": marked},
    )
    return marked


@dataclass(frozen=True)
class Backlog:
    """What a subscriber missed: the rows after its cursor, or ``resync`` when they are gone (retention)."""

    items: list[Notification]
    resync: bool


async def since(session: AsyncSession, user_id: int, after: int, *, limit: int = 500) -> Backlog:
    """The user's notifications numbered after ``after``, oldest first (one index range scan).

    ``resync`` is set when rows right after the cursor were removed by the retention sweep (which keeps
    each recipient's latest row, so the numbering never restarts): the client must reload its lists
    instead of trusting the stream to be complete.
    """
    rows = list(
        (
            await session.scalars(
                select(Notification)
                .where(Notification.recipient_id == user_id, Notification.seq > after)
                .order_by(Notification.seq)
                .limit(limit)
            )
        ).all()
    )
    if rows:
        return Backlog(rows, resync=rows[0].seq != after + 1)
    highest = await session.scalar(
        select(func.max(Notification.seq)).where(Notification.recipient_id == user_id)
    )
    # A cursor beyond the numbering (a restored database, a client's bug) cannot be trusted either.
    return Backlog([], resync=after > (highest or 0))


async def since_many(
    session: AsyncSession, cursors: Mapping[int, int], *, limit: int
) -> dict[int, list[Row[Any]]]:
    """For each user of ``cursors``, up to ``limit`` of its notifications numbered after its cursor.

    One statement for any number of users (the live feed reads for every woken subscription of a process
    at once): on PostgreSQL a ``LATERAL`` index range scan per user, on SQLite a windowed join over a JSON
    array. Rows carry ``recipient_id, seq, kind, payload, created_at``, oldest first per user.
    """
    if not cursors:
        return {}
    users, afters = list(cursors), [cursors[user] for user in cursors]
    if session.get_bind().dialect.name == "postgresql":
        statement = text(
            "SELECT n.recipient_id, n.seq, n.kind, n.payload, n.created_at"
            " FROM unnest(CAST(:users AS bigint[]), CAST(:afters AS bigint[])) AS c(user_id, after)"
            " CROSS JOIN LATERAL (SELECT * FROM notification WHERE recipient_id = c.user_id"
            " AND seq > c.after ORDER BY seq LIMIT :limit) AS n"
        ).bindparams(users=users, afters=afters, limit=limit)
    else:
        statement = text(
            "SELECT recipient_id, seq, kind, payload, created_at FROM ("
            " SELECT n.*, row_number() OVER (PARTITION BY n.recipient_id ORDER BY n.seq) AS place"
            " FROM json_each(:pairs) AS c JOIN notification AS n"
            " ON n.recipient_id = json_extract(c.value, '$[0]') AND n.seq > json_extract(c.value, '$[1]'))"
            " WHERE place <= :limit ORDER BY recipient_id, seq"
        ).bindparams(bindparam("pairs", type_=JSON), pairs=list(zip(users, afters, strict=True)), limit=limit)
    typed = statement.columns(
        Notification.recipient_id,
        Notification.seq,
        Notification.kind,
        Notification.payload,
        Notification.created_at,
    )
    found: dict[int, list[Row[Any]]] = {}
    for row in await session.execute(typed):
        found.setdefault(row.recipient_id, []).append(row)
    return found
