"""Weekly-login reminders: 7 days to the account, 14 days to its leaders, once per absence (MON-1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database
from backend.domain.monitoring.logins import send_login_reminders
from backend.models import AuditEntry
from backend.models.enums import Role, UnitKind
from tests.conftest import DEFAULT_NOW
from tests.domain.factories import make_unit, make_user
from tests.domain.monitoring.support import last_seen, reminders, signed_in, told
from tests.domain.workflows.support import World, counting_statements, make_world

NOTHING = {"reminded": 0, "escalated": 0, "leadersTold": 0, "supervisorsTold": 0, "unrouted": 0}
ACCOUNT_PAYLOAD = {"level": "ACCOUNT", "days": "7"}


@pytest.fixture
async def w(db: Database, clock: FixedClock, settings: Settings) -> World:
    return await make_world(db, clock, settings)


def monitored(w: World) -> list[int]:
    """The world's school and county registrars and leaders (not its administrator, city or province)."""
    people = [
        w.registrar,
        w.registrar2,
        w.leader,
        w.leader2,
        w.county,
        w.county_leader,
        w.other_leader,
        w.other_county,
        w.b1_leader,
    ]
    return sorted(p.user_id for p in people)


async def test_an_account_is_reminded_after_7_days_and_only_once(w: World) -> None:  # RULES: MON-1
    w.clock.set(DEFAULT_NOW + timedelta(days=7) - timedelta(minutes=1))
    early = await send_login_reminders(w.uow)

    w.clock.set(DEFAULT_NOW + timedelta(days=7))
    first = await send_login_reminders(w.uow)
    again = await send_login_reminders(w.uow)  # a restart at the same instant
    w.clock.advance(timedelta(hours=1))
    later = await send_login_reminders(w.uow)

    assert early == NOTHING
    assert first == {**NOTHING, "reminded": 9}
    assert again == later == NOTHING
    rows = await reminders(w)
    assert sorted(user for user, _, _ in rows) == monitored(w)
    assert {(level, since) for _, level, since in rows} == {("ACCOUNT", DEFAULT_NOW)}  # never signed in
    notices = await told(w)
    assert sorted(user for user, _ in notices) == monitored(w)
    assert {tuple(sorted(payload.items())) for _, payload in notices} == {
        tuple(sorted(ACCOUNT_PAYLOAD.items()))
    }
    async with w.db.read_session() as session:
        audit = (
            await session.execute(
                select(AuditEntry.user_id, AuditEntry.role, AuditEntry.after).where(
                    AuditEntry.operation == "login_reminder.sent"
                )
            )
        ).all()
    assert [tuple(row) for row in audit] == [(None, None, first)]  # the system's, once


async def test_administrators_city_province_and_inactive_accounts_are_not_monitored(w: World) -> None:
    # RULES: MON-1 (school and county registrars and approvers), ORG-2 (administrators do no business)
    async with w.uow() as uow:
        gone = await make_user(uow, w.tree.school_a1, "a1.gone", (Role.REGISTRAR,), is_active=False)
        closed = await make_unit(uow, UnitKind.SCHOOL, "3401020099", w.tree.county_a)
        closed.is_active = False
        in_closed = await make_user(uow, closed, "closed.registrar", (Role.REGISTRAR,))
        both = await make_user(uow, w.tree.school_a2, "a2.both", (Role.SYSTEM_ADMINISTRATOR, Role.REGISTRAR))
    w.clock.set(DEFAULT_NOW + timedelta(days=30))

    await send_login_reminders(w.uow)

    reminded = {user for user, level, _ in await reminders(w) if level == "ACCOUNT"}
    assert reminded == {*monitored(w), both.id}
    for outsider in (w.admin.user_id, w.city.user_id, w.province.user_id, gone.id, in_closed.id):
        assert outsider not in reminded


async def test_a_sign_in_starts_a_new_absence(w: World) -> None:  # RULES: MON-1
    w.clock.set(DEFAULT_NOW + timedelta(days=7))
    await send_login_reminders(w.uow)
    back = DEFAULT_NOW + timedelta(days=8)
    async with w.uow() as uow:
        await signed_in(uow, w.registrar, back)

    w.clock.set(DEFAULT_NOW + timedelta(days=14))
    fortnight = await send_login_reminders(w.uow)
    w.clock.set(back + timedelta(days=7))
    week_after_return = await send_login_reminders(w.uow)

    assert fortnight["escalated"] == 8  # everyone but the account that came back
    assert week_after_return == {**NOTHING, "reminded": 1}
    mine = [(level, since) for user, level, since in await reminders(w) if user == w.registrar.user_id]
    assert mine == [("ACCOUNT", DEFAULT_NOW), ("ACCOUNT", back)]  # no escalation of the first absence


async def test_leaders_are_told_after_14_days_once(w: World) -> None:  # RULES: MON-1
    now = DEFAULT_NOW + timedelta(days=14)
    present = [w.registrar2, w.leader, w.leader2, w.county, w.county_leader, w.b1_leader]
    await last_seen(w, now - timedelta(days=1), present)
    # Absent: A1's registrar (A1 has two leaders), A2's only leader (its county's leader is told),
    # county B's registrar (no leader in county B, none in the city above: nobody to tell).
    w.clock.set(now)

    first = await send_login_reminders(w.uow)
    again = await send_login_reminders(w.uow)

    assert first == {"reminded": 3, "escalated": 3, "leadersTold": 2, "supervisorsTold": 1, "unrouted": 1}
    assert again == NOTHING
    escalated = sorted(user for user, level, _ in await reminders(w) if level == "LEADER")
    assert escalated == sorted([w.registrar.user_id, w.other_leader.user_id, w.other_county.user_id])
    leaders = [(user, payload) for user, payload in await told(w) if payload["level"] == "LEADER"]
    assert sorted(leaders, key=lambda item: item[0]) == [
        (w.leader.user_id, {"count": 1, "level": "LEADER", "days": "14", "scope": "UNIT"}),
        (w.leader2.user_id, {"count": 1, "level": "LEADER", "days": "14", "scope": "UNIT"}),
        (w.county_leader.user_id, {"count": 1, "level": "LEADER", "days": "14", "scope": "SUBORDINATE"}),
    ]


async def test_a_leader_is_told_once_with_the_number_of_absent_accounts(w: World) -> None:  # RULES: MON-1
    now = DEFAULT_NOW + timedelta(days=14)
    await last_seen(w, now - timedelta(days=1), [w.leader, w.leader2])
    w.clock.set(now)

    await send_login_reminders(w.uow)

    to_a1_leader = [payload for user, payload in await told(w) if user == w.leader.user_id]
    # Its own ACCOUNT reminder is not due (it signed in); one notice for A1's two absent registrars.
    assert to_a1_leader == [{"count": 2, "level": "LEADER", "days": "14", "scope": "UNIT"}]


async def test_an_absent_sole_leader_is_reported_to_the_supervising_department(w: World) -> None:
    # RULES: MON-1 — the leader is the absent one: its county's leader hears of it, not the leader itself
    now = DEFAULT_NOW + timedelta(days=14)
    everyone_else = [w.registrar, w.registrar2, w.leader, w.leader2, w.county, w.county_leader]
    await last_seen(w, now - timedelta(days=1), [*everyone_else, w.other_county, w.b1_leader])
    w.clock.set(now)

    result = await send_login_reminders(w.uow)

    assert result == {"reminded": 1, "escalated": 1, "leadersTold": 0, "supervisorsTold": 1, "unrouted": 0}
    leaders = [user for user, payload in await told(w) if payload["level"] == "LEADER"]
    assert leaders == [w.county_leader.user_id]


async def test_a_unit_whose_leaders_are_all_away_is_reported_to_the_department(w: World) -> None:
    # RULES: MON-1 — A1's registrar and both A1 leaders are away: the leaders are not told of each other
    now = DEFAULT_NOW + timedelta(days=14)
    present = [w.registrar2, w.county, w.county_leader, w.other_leader, w.other_county, w.b1_leader]
    await last_seen(w, now - timedelta(days=1), present)
    w.clock.set(now)

    result = await send_login_reminders(w.uow)

    assert result == {"reminded": 3, "escalated": 3, "leadersTold": 0, "supervisorsTold": 1, "unrouted": 0}
    leaders = [(user, payload["count"]) for user, payload in await told(w) if payload["level"] == "LEADER"]
    assert leaders == [(w.county_leader.user_id, 3)]


async def test_a_run_costs_the_same_statements_whatever_the_number_of_accounts(w: World) -> None:
    # RULES: MON-1 — a province has tens of thousands of accounts: set-based, no per-account query
    first = DEFAULT_NOW + timedelta(days=14)
    await last_seen(w, first - timedelta(days=1), [w.registrar2, w.leader, w.leader2, w.county, w.b1_leader])
    w.clock.set(first)
    with counting_statements(w.db) as few:
        small = await send_login_reminders(w.uow)

    async with w.uow() as uow:
        for n in range(40):
            unit = (w.tree.school_a1, w.tree.school_a2, w.tree.county_b)[n % 3]
            await make_user(uow, unit, f"extra{n}", (Role.REGISTRAR,))
    second = first + timedelta(days=30)  # the extra accounts and three more are away now
    await last_seen(w, second - timedelta(days=1), [w.leader, w.leader2, w.county_leader])
    w.clock.set(second)
    with counting_statements(w.db) as many:
        large = await send_login_reminders(w.uow)

    assert (small["escalated"], large["escalated"]) == (4, 43)
    assert all(run["leadersTold"] and run["supervisorsTold"] and run["unrouted"] for run in (small, large))
    assert len(few) == len(many) <= 10
