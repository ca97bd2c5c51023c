"""The durable outbox: emails and SMS written in the cause's transaction, sent later, retried, never lost.

**Enqueue.** ``enqueue`` adds an ``OutboxMessage`` to the caller's transaction, so a message exists exactly
when the change that caused it committed. Its ``dedupe_key`` names the cause (``notif:<id>:EMAIL``,
``digest:<user>:<day>``): the insert is ``INSERT … ON CONFLICT (dedupe_key) DO NOTHING``, so re-running a job
or retrying the cause queues nothing twice.

**Deliver.** ``deliver_due`` repeats three short steps:

1. *Claim* due rows in one statement, ``UPDATE … SET state = 'SENDING', attempts = attempts + 1,
   next_attempt_at = now + <claim length> WHERE id IN (SELECT … due … LIMIT n) AND <still due> RETURNING
   …``; on PostgreSQL the inner select is a materialised CTE read ``FOR UPDATE SKIP LOCKED`` (SQLite runs
   one writer at a time). Of two processes only one matches a row: the other sees it locked or no longer
   due. ``attempts`` after the claim is the claim's token: later updates of the row require it, so a
   claimer that lost its row (see below) cannot overwrite what the new claimer did.
2. *Send* each message outside any transaction (SMTP or an SMS provider may take seconds; no lock is held).
3. *Mark* right after each send, in its own transaction: ``SENT`` with ``sent_at``; or, on failure, back to
   ``PENDING`` after an exponential back-off (1, 2, 4 … minutes, at most ``BACKOFF_CAP``) with
   ``last_error``; or ``DEAD`` once ``outbox_max_attempts`` attempts failed. ``last_error`` holds only an
   error class and a status code, never a server's free text (which could echo credentials). A failure
   that says the channel itself is down (connection refused, timeout, bad SMTP login) stops that channel
   for this run: the rest of its claimed messages go back unattempted instead of each waiting for the
   same timeout.

A row whose process died while ``SENDING`` is due again once its claim expires (``claim_for``: longer
than its batch can take) and is retried like a failure; one that has used all its attempts is given up.

**Exactly once, in practice.** Each message is marked ``SENT`` right after its server accepted it, so a
message is sent twice only if the process dies (or its database write fails) in the moment between the
two: the claim then expires and the message goes out again. That window is the price of sending outside
a transaction, and it is the only duplicate: re-running the cause or a job cannot add a second row
(``dedupe_key``), and two processes cannot claim one row. Emails carry a ``Message-ID`` derived from the
row, so a receiving system may recognise the rare repeat; an SMS cannot.

**Bodies do not outlive delivery.** A body may hold an initial password (IME-6): it sits in the row until
the message is sent, then the body is replaced by a redacted text; a message given up (``DEAD``) is
cleared the same way. Subject, address and timestamps stay as the record of what was sent to whom.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Table, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import UnitOfWork
from backend.models import OutboxMessage

log = logging.getLogger(__name__)

EMAIL = "EMAIL"
SMS = "SMS"
PENDING = "PENDING"
SENDING = "SENDING"
SENT = "SENT"
DEAD = "DEAD"
CLAIM_BATCH = 20
# A claim outlasts its batch (``claim_for``): each send is bounded by the delivery timeout and a channel
# stops at its first connection failure, so a live claim is never taken over.
CLAIM_TIMEOUT = timedelta(minutes=15)
CLAIM_MARGIN = timedelta(minutes=5)
MAX_BATCHES = 50  # per run; the next run (a minute later) takes the rest
BACKOFF_CAP = timedelta(minutes=60)
REDACTED_SENT = "（已发送，正文已清除）"
REDACTED_DEAD = "（未能发送，正文已清除）"
INTERRUPTED = "发送中断（进程退出）"


Begin = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


@dataclass(frozen=True)
class OutgoingMessage:
    """A claimed row, as a sender sees it."""

    id: int
    channel: str
    address: str
    subject: str
    body: str
    dedupe_key: str
    attempts: int  # after this claim: the claim's token


class DeliveryError(Exception):
    """A send failed; ``reason`` is safe to store (no secrets, no server free text).

    ``channel_down`` says the channel as a whole is unreachable (not just this message), so the rest of the
    run's messages on it are not attempted.
    """

    def __init__(self, reason: str, *, channel_down: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:300]
        self.channel_down = channel_down


class Sender(Protocol):
    async def send(self, message: OutgoingMessage) -> None:
        """Deliver ``message`` or raise ``DeliveryError``."""
        ...


def dialect_insert(session: AsyncSession) -> Any:
    """The INSERT construct with ``ON CONFLICT`` of the session's database (PostgreSQL or SQLite)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def message_row(
    *,
    now: datetime,
    channel: str,
    recipient_id: int | None,
    address: str,
    subject: str,
    body: str,
    dedupe_key: str,
    notification_id: int | None = None,
    not_before: datetime | None = None,
) -> dict[str, Any]:
    """The column values of a new message (for ``enqueue`` and for set-based callers)."""
    if channel not in (EMAIL, SMS):
        raise ValueError(f"unknown channel {channel!r}")
    if not address.strip():
        raise ValueError("a message needs an address")
    if not dedupe_key or len(dedupe_key) > 160:
        raise ValueError("a dedupe key has 1 to 160 characters")
    return {
        "channel": channel,
        "recipient_id": recipient_id,
        "address": address.strip()[:254],
        "subject": subject[:200],
        "body": body,
        "notification_id": notification_id,
        "dedupe_key": dedupe_key,
        "state": PENDING,
        "attempts": 0,
        "next_attempt_at": max(now, not_before) if not_before is not None else now,
        "created_at": now,
    }


async def enqueue(
    uow: UnitOfWork,
    *,
    channel: str,
    recipient_id: int | None,
    address: str,
    subject: str,
    body: str,
    dedupe_key: str,
    notification_id: int | None = None,
    not_before: datetime | None = None,
) -> bool:
    """Add one message to the caller's transaction; ``False`` when ``dedupe_key`` was queued before."""
    row = message_row(
        now=uow.clock.now(),
        channel=channel,
        recipient_id=recipient_id,
        address=address,
        subject=subject,
        body=body,
        dedupe_key=dedupe_key,
        notification_id=notification_id,
        not_before=not_before,
    )
    return len(await enqueue_rows(uow, [row])) == 1


async def enqueue_rows(uow: UnitOfWork, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Add many messages in one statement (duplicates skipped); the ids of those added."""
    if not rows:
        return []
    stmt = (
        dialect_insert(uow.session)(OutboxMessage)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)
    )
    result = await uow.session.execute(stmt, [dict(row) for row in rows])
    return [int(value) for value in result.scalars()]


def claim_for(batch: int, timeout_seconds: int) -> timedelta:
    """How long a claim lasts: the batch's worst case (every send timing out) and a margin."""
    return max(CLAIM_TIMEOUT, timedelta(seconds=batch * timeout_seconds) + CLAIM_MARGIN)


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: 1, 2, 4 … minutes, capped."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), BACKOFF_CAP)


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0  # claimed but not attempted: the channel was down

    def as_json(self) -> dict[str, int]:
        return {"sent": self.sent, "retried": self.retried, "dead": self.dead, "released": self.released}


async def deliver_due(
    begin: Begin,
    *,
    senders: Mapping[str, Sender],
    now: datetime | None = None,
    batch: int = CLAIM_BATCH,
) -> DeliveryReport:
    """Send every due message whose channel has a sender (see the module for the protocol)."""
    report = DeliveryReport()
    down: dict[str, datetime] = {}  # channel → when to try it again
    for _ in range(MAX_BATCHES):
        channels = sorted(set(senders) - set(down))
        if not channels:
            break
        async with begin() as uow:
            at = now or uow.clock.now()
            max_attempts = uow.settings.outbox_max_attempts
            report.dead += await _give_up_interrupted(uow, at, max_attempts)
            hold = claim_for(batch, uow.settings.delivery_timeout_seconds)
            claimed = await _claim(uow, at, channels, batch, max_attempts, hold)
        for message in claimed:
            if message.channel in down:
                await _release(begin, message, retry_at=down[message.channel])
                report.released += 1
                continue
            try:
                await senders[message.channel].send(message)
            except DeliveryError as error:
                reason = error.reason
                if error.channel_down:
                    down[message.channel] = at + backoff(message.attempts)
            except Exception as error:  # noqa: BLE001 - a sender's bug must not stop the others
                log.exception("outbox message %s: unexpected send failure", message.id)
                reason = type(error).__name__
            else:
                await _mark_sent(begin, message, now=now)
                report.sent += 1
                continue
            gave_up = await _mark_failed(begin, message, reason, max_attempts=max_attempts, now=now)
            report.dead += gave_up
            report.retried += not gave_up
        if len(claimed) < batch:
            break
    return report


async def _give_up_interrupted(uow: UnitOfWork, now: datetime, max_attempts: int) -> int:
    """Rows left ``SENDING`` by a dead process that have no attempt left become ``DEAD``."""
    result = await uow.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.state == SENDING,
            OutboxMessage.next_attempt_at <= now,
            OutboxMessage.attempts >= max_attempts,
        )
        .values(state=DEAD, last_error=INTERRUPTED, body=REDACTED_DEAD)
        .execution_options(synchronize_session=False)
    )
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


async def _claim(
    uow: UnitOfWork, now: datetime, channels: Sequence[str], limit: int, max_attempts: int, hold: timedelta
) -> list[OutgoingMessage]:
    due = and_(
        OutboxMessage.state.in_([PENDING, SENDING]),  # SENDING and due: its claim expired
        OutboxMessage.next_attempt_at <= now,
        OutboxMessage.attempts < max_attempts,
    )
    pick = (
        select(OutboxMessage.id)
        .where(due, OutboxMessage.channel.in_(channels))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    picked: Any = pick.scalar_subquery()
    if uow.session.get_bind().dialect.name == "postgresql":
        # Evaluated once, as a materialised CTE: a plain ``IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)``
        # may be re-run by the planner for each outer row and then claim far more than ``n`` rows.
        cte = pick.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
        picked = select(cte.c.id)
    table: Table = OutboxMessage.__table__  # type: ignore[assignment]
    stmt = (
        update(table)
        .where(table.c.id.in_(picked), due)
        .values(state=SENDING, attempts=table.c.attempts + 1, next_attempt_at=now + hold)
        .returning(
            table.c.id,
            table.c.channel,
            table.c.address,
            table.c.subject,
            table.c.body,
            table.c.dedupe_key,
            table.c.attempts,
        )
    )
    rows = (await uow.session.execute(stmt)).all()
    return sorted((OutgoingMessage(*row) for row in rows), key=lambda m: m.id)


def _claimed_by(message: OutgoingMessage) -> Any:
    """Still ours: nobody re-claimed it after our claim expired."""
    return and_(
        OutboxMessage.id == message.id,
        OutboxMessage.state == SENDING,
        OutboxMessage.attempts == message.attempts,
    )


async def _mark_sent(begin: Begin, message: OutgoingMessage, *, now: datetime | None) -> None:
    # Whoever holds the row now, it was sent: record it (only a row already marked SENT is left alone).
    async with begin() as uow:
        result = await uow.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id, OutboxMessage.state != SENT)
            .values(state=SENT, sent_at=now or uow.clock.now(), body=REDACTED_SENT, last_error=None)
            .execution_options(synchronize_session=False)
        )
    if getattr(result, "rowcount", 1) != 1:
        log.warning("outbox message %s was sent but had been marked sent already", message.id)


async def _mark_failed(
    begin: Begin, message: OutgoingMessage, reason: str, *, max_attempts: int, now: datetime | None
) -> bool:
    """Schedule a retry or give up; ``True`` when the message is ``DEAD``."""
    dead = message.attempts >= max_attempts
    log.warning(
        "outbox message %s (%s) attempt %s failed: %s%s",
        message.id,
        message.channel,
        message.attempts,
        reason,
        "; giving up" if dead else "",
    )
    async with begin() as uow:
        at = now or uow.clock.now()
        values: dict[str, Any] = {"last_error": reason[:300]}
        if dead:
            values |= {"state": DEAD, "body": REDACTED_DEAD}
        else:
            values |= {"state": PENDING, "next_attempt_at": at + backoff(message.attempts)}
        await uow.session.execute(
            update(OutboxMessage)
            .where(_claimed_by(message))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return dead


async def _release(begin: Begin, message: OutgoingMessage, *, retry_at: datetime) -> None:
    """Hand back a claimed message that was not attempted (its channel is down): the claim did not count."""
    async with begin() as uow:
        await uow.session.execute(
            update(OutboxMessage)
            .where(_claimed_by(message))
            .values(state=PENDING, attempts=OutboxMessage.attempts - 1, next_attempt_at=retry_at)
            .execution_options(synchronize_session=False)
        )
