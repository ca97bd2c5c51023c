"""The durable outbox: enqueue once per cause, send once, retry with back-off, give up, never lose a row."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.models import OutboxMessage
from backend.notifications.email import SmtpEmailSender
from backend.notifications.outbox import (
    CLAIM_TIMEOUT,
    DEAD,
    EMAIL,
    PENDING,
    REDACTED_DEAD,
    REDACTED_SENT,
    SENDING,
    SENT,
    SMS,
    DeliveryError,
    OutgoingMessage,
    backoff,
    claim_for,
    deliver_due,
    enqueue,
)
from tests.notifications.support import Begin, RecordingSender, free_port, smtp_server, smtp_settings


@pytest.fixture
def begin(db: Database, clock: FixedClock, settings: Settings) -> Begin:
    return lambda: db.unit_of_work(clock, settings)


async def queue(uow: UnitOfWork, n: int, *, channel: str = EMAIL, body: str = "正文") -> None:
    for i in range(n):
        await enqueue(
            uow,
            channel=channel,
            recipient_id=None,
            address=f"user{i}@example.cn" if channel == EMAIL else f"1381234{i:04d}",
            subject=f"【学籍系统】通知{i}",
            body=f"{body}{i}",
            dedupe_key=f"test:{channel}:{i}",
        )


async def rows(begin: Begin) -> list[OutboxMessage]:
    async with begin() as uow:
        return list(await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_a_cause_queued_twice_is_one_message(begin: Begin, clock: FixedClock) -> None:
    async with begin() as uow:
        first = await enqueue(
            uow,
            channel=EMAIL,
            recipient_id=None,
            address="a@example.cn",
            subject="主题",
            body="正文",
            dedupe_key="notif:1:EMAIL",
        )
        again = await enqueue(
            uow,
            channel=EMAIL,
            recipient_id=None,
            address="a@example.cn",
            subject="主题",
            body="正文",
            dedupe_key="notif:1:EMAIL",
        )
    async with begin() as uow:  # and in a later transaction (a job run again)
        later = await enqueue(
            uow,
            channel=EMAIL,
            recipient_id=None,
            address="a@example.cn",
            subject="另一个主题",
            body="另一个正文",
            dedupe_key="notif:1:EMAIL",
            not_before=clock.now() + timedelta(hours=1),
        )

    assert (first, again, later) == (True, False, False)
    [row] = await rows(begin)
    assert (row.state, row.attempts, row.subject, row.next_attempt_at) == (PENDING, 0, "主题", clock.now())


async def test_a_rolled_back_cause_queues_nothing(begin: Begin) -> None:
    with pytest.raises(RuntimeError):
        async with begin() as uow:
            await queue(uow, 1)
            raise RuntimeError("the cause failed")

    assert await rows(begin) == []


async def test_delivery_marks_sent_and_clears_the_body(
    begin: Begin, clock: FixedClock, settings: Settings
) -> None:
    async with begin() as uow:
        await queue(uow, 3, body="初始密码：Secret#123 ")
    port = free_port()
    with smtp_server(port) as mailbox:
        sender = SmtpEmailSender(smtp_settings(settings, port), clock=clock)
        clock.advance(timedelta(seconds=5))
        report = await deliver_due(begin, senders={EMAIL: sender})

    assert report.as_json() == {"sent": 3, "retried": 0, "dead": 0, "released": 0}
    assert sorted(r[0] for r in mailbox.recipients) == [
        "user0@example.cn",
        "user1@example.cn",
        "user2@example.cn",
    ]
    assert "Secret#123" in mailbox.messages[0].get_content()
    stored = await rows(begin)
    assert {(r.state, r.attempts, r.body, r.last_error) for r in stored} == {(SENT, 1, REDACTED_SENT, None)}
    assert {r.sent_at for r in stored} == {clock.now()}
    assert all("Secret" not in r.body for r in stored)


async def test_smtp_down_then_up_retries_with_back_off_and_delivers_each_mail_once(
    begin: Begin, clock: FixedClock, settings: Settings
) -> None:
    port = free_port()  # nothing listens there yet
    sender = SmtpEmailSender(smtp_settings(settings, port), clock=clock)
    async with begin() as uow:
        await queue(uow, 4)

    down = await deliver_due(begin, senders={EMAIL: sender})
    # The first mail found the server down; the others were not attempted (the channel is down).
    assert down.as_json() == {"sent": 0, "retried": 1, "dead": 0, "released": 3}
    stored = await rows(begin)
    assert [(r.state, r.attempts) for r in stored] == [(PENDING, 1), (PENDING, 0), (PENDING, 0), (PENDING, 0)]
    assert {r.next_attempt_at for r in stored} == {clock.now() + timedelta(minutes=1)}
    assert stored[0].last_error and "Error" in stored[0].last_error

    too_soon = await deliver_due(begin, senders={EMAIL: sender})  # the back-off holds them
    clock.advance(timedelta(minutes=1))
    again = await deliver_due(begin, senders={EMAIL: sender})
    assert too_soon.as_json() == {"sent": 0, "retried": 0, "dead": 0, "released": 0}
    assert (again.retried, again.released) == (1, 3)
    first = (await rows(begin))[0]
    assert (first.attempts, first.next_attempt_at) == (2, clock.now() + timedelta(minutes=2))

    with smtp_server(port) as mailbox:
        clock.advance(timedelta(minutes=2))
        up = await deliver_due(begin, senders={EMAIL: sender})
        later = await deliver_due(begin, senders={EMAIL: sender})

    assert up.sent == 4
    assert later.sent == 0
    assert len(mailbox.messages) == 4
    assert sorted(r[0] for r in mailbox.recipients) == [f"user{i}@example.cn" for i in range(4)]
    assert len(set(mailbox.message_ids())) == 4
    assert {r.state for r in await rows(begin)} == {SENT}


def test_back_off_doubles_from_one_minute_to_an_hour() -> None:
    assert [backoff(n).total_seconds() / 60 for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_a_claim_outlasts_its_batch_even_if_every_send_times_out() -> None:
    assert claim_for(20, 30) == timedelta(minutes=15)  # the defaults
    assert claim_for(20, 120) == timedelta(minutes=45)


async def test_a_message_is_given_up_after_the_last_attempt(
    db: Database, begin: Begin, clock: FixedClock, settings: Settings
) -> None:
    capped = replace(settings, outbox_max_attempts=3)

    def capped_begin() -> AbstractAsyncContextManager[UnitOfWork]:
        return db.unit_of_work(clock, capped)

    class Refusing:
        async def send(self, message: OutgoingMessage) -> None:
            raise DeliveryError("SMTP recipient refused (550)")

    async with capped_begin() as uow:
        await queue(uow, 1, body="初始密码：Secret#123")
    reports = []
    for _ in range(4):
        reports.append((await deliver_due(capped_begin, senders={EMAIL: Refusing()})).as_json())
        clock.advance(timedelta(hours=1))

    assert [(r["retried"], r["dead"]) for r in reports] == [(1, 0), (1, 0), (0, 1), (0, 0)]
    [row] = await rows(begin)
    assert (row.state, row.attempts, row.last_error, row.body) == (
        DEAD,
        3,
        "SMTP recipient refused (550)",
        REDACTED_DEAD,
    )


async def test_two_processes_delivering_at_once_never_send_a_row_twice(
    settings: Settings, clock: FixedClock
) -> None:
    first_db, second_db = Database(settings.database_url), Database(settings.database_url)
    try:
        async with first_db.unit_of_work(clock, settings) as uow:
            await queue(uow, 30, channel=EMAIL)
            await queue(uow, 10, channel=SMS)
        async with second_db.unit_of_work(clock, settings) as uow:  # both connected before the race
            await uow.session.execute(select(1))
        senders = [{EMAIL: RecordingSender(pause=0.01), SMS: RecordingSender(pause=0.01)} for _ in range(2)]
        reports = await asyncio.gather(
            deliver_due(lambda: first_db.unit_of_work(clock, settings), senders=senders[0], batch=4),
            deliver_due(lambda: second_db.unit_of_work(clock, settings), senders=senders[1], batch=4),
        )
    finally:
        await first_db.dispose()
        await second_db.dispose()

    sent = [m.dedupe_key for pair in senders for sender in pair.values() for m in sender.sent]
    assert len(sent) == len(set(sent)) == 40
    assert sum(r.sent for r in reports) == 40
    assert all(r.sent > 0 for r in reports), [r.as_json() for r in reports]  # both took part


async def test_a_row_left_sending_by_a_dead_process_is_retried_after_its_claim_expires(
    begin: Begin, clock: FixedClock
) -> None:
    async with begin() as uow:
        await queue(uow, 1)
    async with begin() as uow:  # a process claimed it, then died before marking it
        await uow.session.execute(
            update(OutboxMessage).values(
                state=SENDING, attempts=1, next_attempt_at=clock.now() + CLAIM_TIMEOUT
            )
        )
    sender = RecordingSender()

    while_claimed = await deliver_due(begin, senders={EMAIL: sender})
    clock.advance(CLAIM_TIMEOUT)
    expired = await deliver_due(begin, senders={EMAIL: sender})

    assert (while_claimed.sent, expired.sent) == (0, 1)
    [row] = await rows(begin)
    assert (row.state, row.attempts) == (SENT, 2)


async def test_a_late_mark_of_a_lost_claim_changes_nothing(begin: Begin, clock: FixedClock) -> None:
    """A claimer whose claim expired and was taken over cannot overwrite the new claimer's outcome."""

    class SlowThenFailing:
        def __init__(self) -> None:
            self.calls = 0

        async def send(self, message: OutgoingMessage) -> None:
            self.calls += 1
            clock.advance(CLAIM_TIMEOUT + timedelta(minutes=1))  # the claim expires meanwhile …
            async with begin() as uow:  # … and another process re-claims and sends it
                await uow.session.execute(
                    update(OutboxMessage).values(state=SENT, attempts=OutboxMessage.attempts + 1)
                )
            raise DeliveryError("SMTP timeout", channel_down=True)

    async with begin() as uow:
        await queue(uow, 1)
    report = await deliver_due(begin, senders={EMAIL: SlowThenFailing()})

    assert report.retried == 1  # it believed so, but …
    [row] = await rows(begin)
    assert (row.state, row.attempts, row.last_error) == (SENT, 2, None)  # … the row kept the other's outcome


async def test_channels_without_a_sender_wait(begin: Begin) -> None:
    async with begin() as uow:
        await queue(uow, 2, channel=EMAIL)
        await queue(uow, 2, channel=SMS)
    sms = RecordingSender()

    report = await deliver_due(begin, senders={SMS: sms})

    assert report.sent == 2
    assert [m.channel for m in sms.sent] == [SMS, SMS]
    assert sorted(r.state for r in await rows(begin)) == [PENDING, PENDING, SENT, SENT]


async def test_a_claim_takes_at_most_one_batch(begin: Begin) -> None:
    """Each claim holds ``batch`` rows at most (on PostgreSQL too, where the row pick is a locked CTE)."""
    claimed_at_first_send: list[int] = []

    class Counting:
        async def send(self, message: OutgoingMessage) -> None:
            if not claimed_at_first_send:
                async with begin() as uow:
                    sending = await uow.session.scalars(
                        select(OutboxMessage.id).where(OutboxMessage.state == SENDING)
                    )
                    claimed_at_first_send.append(len(list(sending)))

    async with begin() as uow:
        await queue(uow, 10)
    report = await deliver_due(begin, senders={EMAIL: Counting()}, batch=4)

    assert claimed_at_first_send == [4]
    assert report.sent == 10
