"""From the notification log to the outbox: who gets which notification by email or SMS, and when.

``route_notifications`` is a scheduled job and an idempotent function of "now". It reads new
``Notification`` rows in chunks of ``CHUNK`` — one ``SELECT`` per chunk joining each row's recipient and
preferences, one ``INSERT … ON CONFLICT DO NOTHING`` of the chunk's messages — and decides per row, in
Python, what the recipient's preferences (``preferences``) ask for:

- the kind's channels (the user's choice, else the defaults); a channel without an address on the
  account (no email, no mobile) is skipped, as are inactive accounts;
- quiet hours: a message routed inside them gets ``next_attempt_at`` = their end (Asia/Shanghai);
- the daily digest: no individual emails; SMS still go out.

**The cursor.** How far the log was read is kept in a marker row of ``job_lease`` (``CURSOR``, never due as
a job), advanced in the same transaction as the chunk's messages. Ids are handed out when a row is
inserted, not when it commits, so a transaction still open while a later one commits leaves a smaller id
behind the cursor: each run therefore also re-reads the last ``LOOKBACK`` of the log. Re-reading is
harmless because a message's ``dedupe_key`` is ``notif:<notification id>:<channel>``: a row already routed
conflicts and adds nothing. A transaction that commits more than ``LOOKBACK`` after writing its
notification would be missed; nothing in the product holds a transaction anywhere near that long.
Notifications older than ``MAX_AGE`` when first read (after a long outage, or before this job existed) are
not mailed at all: stale news is noise, and the in-app list still has them.

**The digest.** The day's digest (Asia/Shanghai day) is built at ``DIGEST_AT`` the next morning, for
users with ``daily_digest`` and an email address: one email listing that day's notifications of kinds
they take by email, with ``dedupe_key`` ``digest:<user>:<day>``. Users already holding that key are left
out by the query itself, so later runs cost one statement; the previous ``DIGEST_DAYS`` days are looked at
so that a job that did not run one morning still sends them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Row, String, and_, cast, exists, func, literal, select

from backend.clock import SHANGHAI, local
from backend.db import UnitOfWork
from backend.models import JobLease, Notification, NotificationPreference, OutboxMessage, User
from backend.notifications.outbox import Begin, dialect_insert, enqueue_rows, message_row
from backend.notifications.preferences import EMAIL, SMS, channels_for, quiet_until
from backend.notifications.templates import DigestItem, render_digest, render_notification

CHUNK = 500
LOOKBACK = timedelta(minutes=15)
MAX_AGE = timedelta(hours=24)
CURSOR = "notification-routing:cursor"
NEVER = datetime(9999, 1, 1, tzinfo=UTC)
DIGEST_AT = time(7, 0)
DIGEST_DAYS = 2
DIGEST_USERS = 200


@dataclass
class RoutingReport:
    scanned: int = 0
    queued: int = 0
    digests: int = 0
    cursor: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "scanned": self.scanned,
            "queued": self.queued,
            "digests": self.digests,
            "cursor": self.cursor,
        }


async def route_notifications(begin: Begin, now: datetime | None = None) -> RoutingReport:
    """Queue the emails and SMS new notifications call for, then any digests that are due."""
    report = RoutingReport()
    async with begin() as uow:
        at = now or uow.clock.now()
        cursor = await _read_cursor(uow)
        after = await _scan_start(uow, cursor, at)
    report.cursor = cursor or 0
    while True:
        async with begin() as uow:
            rows = await _chunk(uow, after, at)
            if rows:
                planned = [message for row in rows for message in plan_messages(row, at)]
                report.queued += len(await enqueue_rows(uow, planned))
                after = rows[-1].id
                if after > report.cursor:
                    report.cursor = after
                    await _write_cursor(uow, after)
        report.scanned += len(rows)
        if len(rows) < CHUNK:
            break
    for day in digest_days(at):
        report.digests += await build_digests(begin, day, at)
    return report


async def _read_cursor(uow: UnitOfWork) -> int | None:
    marker = await uow.session.get(JobLease, CURSOR)
    value = marker.last_result.get("cursor") if marker is not None else None
    return value if isinstance(value, int) else None


async def _write_cursor(uow: UnitOfWork, cursor: int) -> None:
    values = {"name": CURSOR, "next_due_at": NEVER, "last_result": {"cursor": cursor}}
    stmt = dialect_insert(uow.session)(JobLease).values(**values)
    await uow.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["name"], set_={"last_result": stmt.excluded.last_result}
        ).execution_options(synchronize_session=False)
    )


async def _scan_start(uow: UnitOfWork, cursor: int | None, at: datetime) -> int:
    """Read after this id: the cursor, or earlier to re-read the last ``LOOKBACK`` (see the module)."""
    first_recent = await uow.session.scalar(
        select(func.min(Notification.id)).where(Notification.created_at >= at - LOOKBACK)
    )
    if first_recent is None:
        if cursor is not None:
            return cursor
        return int(await uow.session.scalar(select(func.max(Notification.id))) or 0)
    return first_recent - 1 if cursor is None else min(cursor, first_recent - 1)


async def _chunk(uow: UnitOfWork, after: int, at: datetime) -> Sequence[Row[Any]]:
    pref = NotificationPreference
    stmt = (
        select(
            Notification.id,
            Notification.recipient_id,
            Notification.kind,
            Notification.payload,
            User.display_name,
            User.email,
            User.phone,
            pref.channels,
            pref.quiet_start,
            pref.quiet_end,
            pref.daily_digest,
        )
        .join(User, User.id == Notification.recipient_id)
        .outerjoin(pref, pref.user_id == Notification.recipient_id)
        .where(Notification.id > after, Notification.created_at >= at - MAX_AGE, User.is_active)
        .order_by(Notification.id)
        .limit(CHUNK)
    )
    return (await uow.session.execute(stmt)).all()


def plan_messages(row: Row[Any], at: datetime) -> list[dict[str, Any]]:
    """The outbox rows one notification calls for (none, email, SMS or both)."""
    hold = quiet_until(at, row.quiet_start, row.quiet_end)
    messages: list[dict[str, Any]] = []
    rendered = None
    for channel in channels_for(row.channels, row.kind):
        if channel == EMAIL and (row.daily_digest or not row.email):
            continue
        if channel == SMS and not row.phone:
            continue
        rendered = rendered or render_notification(row.kind, row.payload or {}, display_name=row.display_name)
        messages.append(
            message_row(
                now=at,
                channel=channel,
                recipient_id=row.recipient_id,
                address=row.email if channel == EMAIL else row.phone,
                subject=rendered.subject,
                body=rendered.body if channel == EMAIL else rendered.sms,
                dedupe_key=f"notif:{row.id}:{channel}",
                notification_id=row.id,
                not_before=hold,
            )
        )
    return messages


def digest_time(day: date) -> datetime:
    """When ``day``'s digest is built: ``DIGEST_AT`` the next morning, Asia/Shanghai."""
    return datetime.combine(day + timedelta(days=1), DIGEST_AT, tzinfo=SHANGHAI).astimezone(UTC)


def digest_days(at: datetime) -> list[date]:
    today = local(at).date()
    days = [today - timedelta(days=back) for back in range(DIGEST_DAYS, 0, -1)]
    return [day for day in days if digest_time(day) <= at]


async def build_digests(begin: Begin, day: date, at: datetime) -> int:
    """Queue ``day``'s digest for every digest user who has one coming; how many were queued."""
    start = datetime.combine(day, time(), tzinfo=SHANGHAI).astimezone(UTC)
    in_day = and_(Notification.created_at >= start, Notification.created_at < start + timedelta(days=1))
    queued = 0
    after_user = 0
    while True:
        async with begin() as uow:
            users = await _digest_users(uow, day, in_day, after_user)
            if not users:
                break
            items: dict[int, list[DigestItem]] = defaultdict(list)
            rows = await uow.session.execute(
                select(Notification.recipient_id, Notification.kind, Notification.payload)
                .add_columns(Notification.created_at)
                .where(Notification.recipient_id.in_([user.id for user in users]), in_day)
                .order_by(Notification.recipient_id, Notification.id)
            )
            for recipient_id, kind, payload, created_at in rows:
                items[recipient_id].append(DigestItem(kind, payload or {}, created_at))
            planned = [
                _digest_message(user, day, mailed, at)
                for user in users
                if (mailed := [i for i in items[user.id] if EMAIL in channels_for(user.channels, i.kind)])
            ]
            queued += len(await enqueue_rows(uow, planned))
            after_user = users[-1].id
        if len(users) < DIGEST_USERS:
            break
    return queued


async def _digest_users(uow: UnitOfWork, day: date, in_day: Any, after_user: int) -> Sequence[Row[Any]]:
    """Digest users with notifications on ``day`` and no digest for it yet (the unique key is probed)."""
    pref = NotificationPreference
    key = literal("digest:") + cast(User.id, String) + literal(f":{day.isoformat()}")
    stmt = (
        select(User.id, User.display_name, User.email, pref.channels, pref.quiet_start, pref.quiet_end)
        .join(pref, and_(pref.user_id == User.id, pref.daily_digest.is_(True)))
        .where(
            User.id > after_user,
            User.is_active,
            User.email.is_not(None),
            exists().where(Notification.recipient_id == User.id, in_day),
            ~exists().where(OutboxMessage.dedupe_key == key),
        )
        .order_by(User.id)
        .limit(DIGEST_USERS)
    )
    return (await uow.session.execute(stmt)).all()


def _digest_message(user: Row[Any], day: date, items: list[DigestItem], at: datetime) -> dict[str, Any]:
    text = render_digest(display_name=user.display_name, day=day, items=items)
    return message_row(
        now=at,
        channel=EMAIL,
        recipient_id=user.id,
        address=user.email,
        subject=text.subject,
        body=text.body,
        dedupe_key=f"digest:{user.id}:{day.isoformat()}",
        not_before=quiet_until(at, user.quiet_start, user.quiet_end),
    )
