"""Routing notifications to email and SMS: defaults, preferences, addresses, quiet hours, the digest."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, insert, select, update

from backend.clock import SHANGHAI, FixedClock, shanghai
from backend.config import Settings
from backend.db import Database
from backend.domain.notifications.log import NotificationKind, notify_users
from backend.jobs import JOBS, run_due_jobs
from backend.models import JobLease, Notification, NotificationPreference, OutboxMessage, User
from backend.notifications import routing
from backend.notifications.outbox import EMAIL, SENT, SMS, deliver_due
from backend.notifications.preferences import quiet_until
from backend.notifications.routing import CURSOR, route_notifications
from backend.runtime import Runtime
from tests.notifications.support import (
    Begin,
    People,
    RecordingSender,
    free_port,
    make_people,
    smtp_server,
    smtp_settings,
)

PENDING_STEP = {
    "workflowId": 7,
    "kind": "transfer",
    "subjectType": "transfer",
    "subjectId": 3,
    "step": "转入学校审核",
    "dueOn": "2026-11-30",
}
DECIDED = {"workflowId": 7, "kind": "status_change", "state": "REJECTED", "comment": "证明材料不全"}


@pytest.fixture
def begin(db: Database, clock: FixedClock, settings: Settings) -> Begin:
    return lambda: db.unit_of_work(clock, settings)


@pytest.fixture
async def people(db: Database, clock: FixedClock, settings: Settings) -> People:
    return await make_people(db, clock, settings)


async def tell(begin: Begin, users: list[User], kind: NotificationKind, payload: dict[str, Any]) -> None:
    async with begin() as uow:
        await notify_users(uow, [user.id for user in users], kind, payload)


async def outbox(begin: Begin) -> list[OutboxMessage]:
    async with begin() as uow:
        return list(await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def sent_to(messages: list[OutboxMessage]) -> list[tuple[str, str]]:
    return sorted((m.channel, m.address) for m in messages)


async def prefer(begin: Begin, user: User, **values: Any) -> None:
    async with begin() as uow:
        await uow.session.execute(
            insert(NotificationPreference).values(
                user_id=user.id, updated_at=uow.clock.now(), **{"channels": {}, **values}
            )
        )


async def test_defaults_a_pending_step_and_a_decision_by_email_a_login_reminder_by_email_and_sms(
    begin: Begin, people: People, clock: FixedClock
) -> None:  # RULES: MON-1
    everyone = [people.zhang, people.li, people.wang]
    await tell(begin, everyone, NotificationKind.STEP_PENDING, PENDING_STEP)
    await tell(begin, everyone, NotificationKind.LOGIN_REMINDER, {"level": "ACCOUNT", "days": "7"})
    await tell(begin, everyone, NotificationKind.MESSAGE, {"text": "在吗"})  # in-app only

    report = await route_notifications(begin)

    assert (report.scanned, report.queued) == (9, 5)
    messages = await outbox(begin)
    assert sent_to(messages) == [
        (EMAIL, "li@example.cn"),
        (EMAIL, "li@example.cn"),
        (EMAIL, "zhang@example.cn"),
        (EMAIL, "zhang@example.cn"),
        (SMS, "13812345678"),  # wang has neither address: skipped
    ]
    step_mail = next(m for m in messages if m.address == "zhang@example.cn" and "待办" in m.subject)
    assert step_mail.subject == "【学籍系统】待办：转学「转入学校审核」等待您办理，请于2026年11月30日前办结"
    assert step_mail.body.startswith("张三，您好：")
    assert step_mail.next_attempt_at == clock.now()
    async with begin() as uow:
        notification = await uow.session.get(Notification, step_mail.notification_id)
    assert notification is not None
    assert (notification.recipient_id, notification.kind) == (people.zhang.id, "STEP_PENDING")
    assert step_mail.dedupe_key == f"notif:{notification.id}:EMAIL"
    sms = next(m for m in messages if m.channel == SMS)
    assert sms.body == "【学籍系统】您的账号已7天以上未登录学籍系统，请登录学籍系统查看和办理。"


async def test_routing_again_queues_nothing_even_from_the_start(begin: Begin, people: People) -> None:
    await tell(begin, [people.zhang, people.li], NotificationKind.DECIDED, DECIDED)
    first = await route_notifications(begin)
    again = await route_notifications(begin)
    async with begin() as uow:  # the cursor is lost: everything is read again
        await uow.session.execute(delete(JobLease).where(JobLease.name == CURSOR))
    from_scratch = await route_notifications(begin)

    assert (first.queued, again.queued, from_scratch.queued) == (2, 0, 0)
    assert from_scratch.scanned == 2
    assert len(await outbox(begin)) == 2


async def test_the_cursor_advances_and_a_late_commit_behind_it_is_still_routed(
    begin: Begin, people: People, clock: FixedClock
) -> None:
    async def notification(notification_id: int, seq: int) -> None:
        async with begin() as uow:
            await uow.session.execute(
                insert(Notification).values(
                    id=notification_id,
                    recipient_id=people.li.id,
                    seq=seq,
                    kind="DECIDED",
                    payload=DECIDED,
                    created_at=clock.now(),
                )
            )

    await notification(100, 1)
    first = await route_notifications(begin)
    # Id 50 was handed out before 100 but its transaction commits only now.
    await notification(50, 2)
    clock.advance(timedelta(minutes=1))
    second = await route_notifications(begin)
    clock.advance(routing.LOOKBACK)
    third = await route_notifications(begin)

    assert (first.cursor, first.queued) == (100, 1)
    assert (second.cursor, second.queued) == (100, 1)
    assert (third.scanned, third.queued) == (0, 0)  # past the look-back only the cursor counts
    assert sorted(m.notification_id or 0 for m in await outbox(begin)) == [50, 100]


async def test_stale_notifications_and_inactive_accounts_get_no_mail(
    begin: Begin, people: People, clock: FixedClock
) -> None:
    await tell(begin, [people.zhang], NotificationKind.DECIDED, DECIDED)
    await tell(begin, [people.li], NotificationKind.DECIDED, DECIDED)
    async with begin() as uow:
        await uow.session.execute(update(User).where(User.id == people.li.id).values(is_active=False))
    clock.advance(routing.MAX_AGE + timedelta(minutes=1))
    await tell(begin, [people.zhang], NotificationKind.STEP_PENDING, PENDING_STEP)

    report = await route_notifications(begin)

    assert report.queued == 1
    assert [m.subject for m in await outbox(begin)] == [
        "【学籍系统】待办：转学「转入学校审核」等待您办理，请于2026年11月30日前办结"
    ]


async def test_a_users_choices_replace_the_defaults(begin: Begin, people: People) -> None:
    await prefer(begin, people.zhang, channels={"DECIDED": ["SMS"], "STEP_PENDING": []})
    await prefer(begin, people.li, channels={"MESSAGE": ["EMAIL", "SMS"]})
    for kind, payload in [
        (NotificationKind.DECIDED, DECIDED),
        (NotificationKind.STEP_PENDING, PENDING_STEP),
        (NotificationKind.MESSAGE, {"text": "你好"}),
    ]:
        await tell(begin, [people.zhang, people.li], kind, payload)

    await route_notifications(begin)

    messages = await outbox(begin)
    assert [(m.channel, m.address, m.body) for m in messages if m.recipient_id == people.zhang.id] == [
        (SMS, "13812345678", "【学籍系统】您发起的学籍异动审核未通过，请登录学籍系统查看和办理。")
    ]
    # li: decisions and steps by default, messages by email (no mobile number: no SMS).
    assert [(m.channel, m.subject) for m in messages if m.recipient_id == people.li.id] == [
        (EMAIL, "【学籍系统】审批结果：您发起的学籍异动审核未通过"),
        (EMAIL, "【学籍系统】待办：转学「转入学校审核」等待您办理，请于2026年11月30日前办结"),
        (EMAIL, "【学籍系统】消息：您有一条新消息"),
    ]


async def test_quiet_hours_hold_mail_and_sms_until_they_end(
    begin: Begin, people: People, clock: FixedClock
) -> None:
    await prefer(begin, people.zhang, quiet_start="22:00", quiet_end="07:00")
    clock.set(shanghai(2026, 11, 25, 23, 0))
    await tell(begin, [people.zhang, people.li], NotificationKind.LOGIN_REMINDER, {"days": "7"})
    await route_notifications(begin)
    held = {m.channel: m.next_attempt_at for m in await outbox(begin) if m.recipient_id == people.zhang.id}
    email, sms = RecordingSender(), RecordingSender()

    at_night = await deliver_due(begin, senders={EMAIL: email, SMS: sms})
    clock.set(shanghai(2026, 11, 26, 7, 0))
    in_the_morning = await deliver_due(begin, senders={EMAIL: email, SMS: sms})

    assert held == {EMAIL: shanghai(2026, 11, 26, 7, 0), SMS: shanghai(2026, 11, 26, 7, 0)}
    assert at_night.sent == 1  # li keeps no quiet hours
    assert in_the_morning.sent == 2
    assert {m.address for m in email.sent} == {"li@example.cn", "zhang@example.cn"}


async def test_the_daily_digest_replaces_individual_mails_with_one_the_next_morning(
    begin: Begin, people: People, clock: FixedClock
) -> None:
    await prefer(begin, people.zhang, daily_digest=True, quiet_start="06:00", quiet_end="08:00")
    await prefer(begin, people.li, daily_digest=True)
    clock.set(shanghai(2026, 11, 25, 9, 30))
    await tell(begin, [people.zhang, people.li], NotificationKind.STEP_PENDING, PENDING_STEP)
    clock.set(shanghai(2026, 11, 25, 16, 5))
    await tell(begin, [people.zhang, people.li], NotificationKind.DECIDED, DECIDED)
    await tell(begin, [people.zhang, people.li], NotificationKind.MESSAGE, {"text": "不在摘要里"})
    await tell(begin, [people.zhang], NotificationKind.LOGIN_REMINDER, {"days": "7"})
    during_the_day = await route_notifications(begin)
    clock.set(shanghai(2026, 11, 26, 6, 59))
    too_early = await route_notifications(begin)
    clock.set(shanghai(2026, 11, 26, 7, 0))
    morning = await route_notifications(begin)
    clock.advance(timedelta(hours=1))
    later = await route_notifications(begin)

    # During the day only zhang's login reminder goes out, and only by SMS (its email joins the digest).
    assert during_the_day.queued == 1
    assert (too_early.digests, morning.digests, later.digests) == (0, 2, 0)
    digests = [m for m in await outbox(begin) if m.dedupe_key.startswith("digest:")]
    assert sorted(m.dedupe_key for m in digests) == [
        f"digest:{people.zhang.id}:2026-11-25",
        f"digest:{people.li.id}:2026-11-25",
    ]
    li = next(m for m in digests if m.recipient_id == people.li.id)
    assert li.subject == "【学籍系统】每日通知摘要（11月25日，2条）"
    assert "09:30 待办：转学「转入学校审核」等待您办理，请于2026年11月30日前办结" in li.body
    assert "16:05 审批结果：您发起的学籍异动审核未通过" in li.body
    assert "不在摘要里" not in li.body and "消息" not in li.body
    assert li.next_attempt_at == shanghai(2026, 11, 26, 7, 0)
    zhang = next(m for m in digests if m.recipient_id == people.zhang.id)
    assert zhang.subject == "【学籍系统】每日通知摘要（11月25日，3条）"  # with the login reminder
    assert zhang.next_attempt_at == shanghai(2026, 11, 26, 8, 0)  # the end of zhang's quiet hours
    [sms] = [m for m in await outbox(begin) if m.channel == SMS]
    assert sms.address == "13812345678"


async def test_a_digest_missed_one_morning_is_sent_the_next(
    begin: Begin, people: People, clock: FixedClock
) -> None:
    await prefer(begin, people.li, daily_digest=True)
    await tell(begin, [people.li], NotificationKind.DECIDED, DECIDED)
    clock.set(shanghai(2026, 11, 27, 12, 0))  # the job did not run on the 26th

    report = await route_notifications(begin)
    email = RecordingSender()
    await deliver_due(begin, senders={EMAIL: email})

    assert report.digests == 1
    assert [m.subject for m in email.sent] == ["【学籍系统】每日通知摘要（11月25日，1条）"]
    assert {m.state for m in await outbox(begin)} == {SENT}


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def test_routing_costs_the_same_statements_for_one_notification_or_many(
    db: Database, begin: Begin, people: People, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routing, "CHUNK", 10)
    await tell(begin, [people.zhang], NotificationKind.DECIDED, DECIDED)
    with statements(db) as one:
        single = await route_notifications(begin)
    for _ in range(9):
        await tell(begin, [people.zhang, people.li], NotificationKind.DECIDED, DECIDED)  # 18 more
    with statements(db) as many:
        chunked = await route_notifications(begin)

    assert (single.queued, chunked.queued) == (1, 18)
    # A chunk costs the same whatever its size; 19 rows (the first is in the look-back) are two chunks.
    # cursor, look-back start, chunk, insert, cursor; one digest look-up for each of the last two days
    assert len(one) == 7
    assert len(many) == len(one) + 3  # the second chunk: read, insert, cursor
    assert sum(s.lstrip().upper().startswith("INSERT INTO OUTBOX_MESSAGE") for s in many) == 2


def test_quiet_hours_that_do_not_wrap_midnight() -> None:
    noon = datetime(2026, 11, 25, 12, 30, tzinfo=SHANGHAI)
    assert quiet_until(noon, "12:00", "14:00") == shanghai(2026, 11, 25, 14, 0)
    assert quiet_until(noon, "13:00", "14:00") is None
    assert quiet_until(noon, "22:00", "07:00") is None
    assert quiet_until(datetime(2026, 11, 26, 6, 59, tzinfo=SHANGHAI), "22:00", "07:00") == shanghai(
        2026, 11, 26, 7, 0
    )
    assert quiet_until(noon, None, None) is None


async def test_the_notifications_job_routes_and_delivers_in_one_run(
    db: Database, begin: Begin, people: People, clock: FixedClock, settings: Settings
) -> None:  # RULES: MON-1
    port = free_port()
    runtime = Runtime.build(replace(smtp_settings(settings, port), broadcast_url="memory://"), clock)
    await tell(begin, [people.zhang], NotificationKind.STEP_PENDING, PENDING_STEP)
    try:
        with smtp_server(port) as mailbox:
            [run] = await run_due_jobs(
                runtime, holder="t", jobs=tuple(j for j in JOBS if j.name == "notifications")
            )
    finally:
        await runtime.db.dispose()

    assert run.result is not None
    assert (run.result["routing"]["queued"], run.result["delivery"]["sent"]) == (1, 1)
    assert [str(m["Subject"]) for m in mailbox.messages] == [
        "【学籍系统】待办：转学「转入学校审核」等待您办理，请于2026年11月30日前办结"
    ]
    assert [r[0] for r in mailbox.recipients] == ["zhang@example.cn"]
