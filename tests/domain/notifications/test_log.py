"""The event log: one INSERT per fact, numbered per recipient without gaps, read back by cursor."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, event, select

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database
from backend.domain.notifications.log import (
    NotificationKind,
    mark_read,
    notify_unit_role,
    notify_users,
    since,
    since_many,
    woken_users,
)
from backend.models import AuditEntry, Notification, User
from backend.models.enums import Role
from tests.domain.workflows.support import World, make_world


@pytest.fixture
async def w(db: Database, clock: FixedClock, settings: Settings) -> World:
    return await make_world(db, clock, settings)


async def test_a_step_for_a_unit_and_role_reaches_each_of_its_accounts_in_one_insert(w: World) -> None:
    # RULES: MON-1 — approvers learn of new work; the write adds one statement to its transaction
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    async with w.uow() as uow:
        event.listen(w.db.engine.sync_engine, "before_cursor_execute", count)
        try:
            written = await notify_unit_role(
                uow, w.tree.school_a1.id, Role.LEADER, NotificationKind.STEP_PENDING, {"workflowId": 7}
            )
        finally:
            event.remove(w.db.engine.sync_engine, "before_cursor_execute", count)
        again = await notify_users(uow, [w.leader.user_id], NotificationKind.DECIDED, {"workflowId": 7})

    assert (written, again) == (2, 1)  # the school's two leaders; then one of them again
    assert len(statements) == 1
    assert statements[0].lstrip().upper().startswith("INSERT")
    async with w.uow() as uow:
        rows = (
            await uow.session.execute(select(Notification.recipient_id, Notification.seq, Notification.kind))
        ).all()
    assert sorted(rows) == sorted(
        [
            (w.leader.user_id, 1, "STEP_PENDING"),
            (w.leader2.user_id, 1, "STEP_PENDING"),
            (w.leader.user_id, 2, "DECIDED"),
        ]
    )
    # One wake-up message per fact, naming every recipient and its number.
    woken = [message for channel, message in w.notices if channel == "notify"]
    assert len(woken) == 2
    assert sorted(woken[0].split(",")) == sorted([f"{w.leader.user_id}:1", f"{w.leader2.user_id}:1"])
    assert woken[1] == f"{w.leader.user_id}:2"


async def test_reading_by_cursor_and_the_resync_signal(w: World) -> None:
    # RULES: MON-1 — nobody misses an item; a client away past the retention window is told to reload
    async with w.uow() as uow:
        for n in range(5):
            await notify_users(uow, [w.county.user_id], NotificationKind.MESSAGE, {"n": n})

    async with w.uow() as uow:
        everything = await since(uow.session, w.county.user_id, 0)
        rest = await since(uow.session, w.county.user_id, 3)
        nothing = await since(uow.session, w.county.user_id, 5)
        beyond = await since(uow.session, w.county.user_id, 9)
    assert [n.seq for n in everything.items] == [1, 2, 3, 4, 5]
    assert not everything.resync
    assert ([n.payload["n"] for n in rest.items], rest.resync) == ([3, 4], False)
    assert (nothing.items, nothing.resync) == ([], False)
    assert beyond.resync  # a cursor past the numbering cannot be trusted

    async with w.uow() as uow:  # retention removed 1..3 (the latest row is always kept)
        await uow.session.execute(delete(Notification).where(Notification.seq <= 3))
    async with w.uow() as uow:
        swept = await since(uow.session, w.county.user_id, 1)
        unaffected = await since(uow.session, w.county.user_id, 3)
    assert swept.resync
    assert not unaffected.resync

    async with w.uow() as uow:  # numbering goes on from the highest kept
        await notify_users(uow, [w.county.user_id], NotificationKind.MESSAGE, {"n": 5})
        latest = await since(uow.session, w.county.user_id, 5)
    assert [n.seq for n in latest.items] == [6]


async def test_inactive_accounts_are_not_told(w: World) -> None:
    async with w.uow() as uow:
        user = await uow.session.get(User, w.leader2.user_id)
        assert user is not None
        user.is_active = False
    async with w.uow() as uow:
        written = await notify_unit_role(
            uow, w.tree.school_a1.id, Role.LEADER, NotificationKind.STEP_PENDING, {}
        )
    assert written == 1


async def test_a_user_marks_only_their_own_notifications_read(w: World) -> None:
    # RULES: MON-1, SEC-7
    async with w.uow() as uow:
        for _ in range(3):
            await notify_users(uow, [w.county.user_id, w.city.user_id], NotificationKind.MESSAGE, {})
    async with w.uow() as uow:
        marked = await mark_read(uow, w.county, 2)
    async with w.uow() as uow:
        read = (
            await uow.session.execute(
                select(Notification.recipient_id, Notification.seq).where(Notification.read_at.is_not(None))
            )
        ).all()
        audit = (await uow.session.scalars(select(AuditEntry.operation))).all()
    assert marked == 2
    assert sorted(read) == [(w.county.user_id, 1), (w.county.user_id, 2)]
    assert "notifications.read" in audit


def test_a_wake_up_names_its_recipients_and_ignores_garbage() -> None:
    assert woken_users("3:1,4:7") == [3, 4]
    assert woken_users("x:1,,5:2,:3") == [5]


async def test_many_cursors_are_read_in_one_statement_with_a_page_per_user(w: World) -> None:
    # RULES: MON-1 — the live feed reads for every subscription at once, and misses nobody's rows
    leader, leader2 = w.leader.user_id, w.leader2.user_id
    async with w.uow() as uow:
        for n in range(1, 6):
            await notify_users(uow, [leader], NotificationKind.MESSAGE, {"n": n})
        await notify_users(uow, [leader2], NotificationKind.MESSAGE, {"n": 1})
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    async with w.db.read_session() as session:
        event.listen(w.db.engine.sync_engine, "before_cursor_execute", count)
        try:
            found = await since_many(session, {leader: 1, leader2: 0, 999_999: 0}, limit=3)
        finally:
            event.remove(w.db.engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert {user: [(row.seq, row.payload["n"]) for row in rows] for user, rows in found.items()} == {
        leader: [(2, 2), (3, 3), (4, 4)],
        leader2: [(1, 1)],
    }
    assert found[leader][0].created_at is not None and found[leader][0].kind == "MESSAGE"
