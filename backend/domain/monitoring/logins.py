"""Weekly-login reminders (MON-1): the account is nudged after 7 days away, its leaders told after 14.

Who is watched and when an absence starts: see ``repository``. Each absence is told once per level,
recorded in ``login_reminder`` under ``(user, level, absent_since)``:

- ``ACCOUNT``, 7 days: the account gets an in-app ``LOGIN_REMINDER`` (the outbox routes that kind by email
  and SMS too; nothing is sent from here).
- ``LEADER``, 14 days: the leaders of the account's unit are told — its other active leaders that are
  present (not absent 14 days themselves: telling one absentee of another helps nobody). When the unit
  has none — the absent account is its only leader, it has no leader, or all of them are away — the
  leaders of the supervising department are told instead: the parent unit (GLOSSARY), which is the county
  for a school, the central school for a branch school, the city for a county; they are told whatever
  their own habits (city staff are not monitored, and the outbox also reaches them by email and SMS). An
  escalation that finds no leader there either is counted as ``unrouted`` in the run's result, for the
  operator; it is not pushed further up.

A sign-in starts a new absence, so a later absence is reminded afresh. Re-runs and restarts never remind
twice: the reminder rows and their notifications are written in one transaction, and the unique key turns
a second insert of the same absence into nothing (``ON CONFLICT DO NOTHING``).

Set-based: a run costs a fixed number of statements whatever the number of accounts — the highest
reminder id so far; one ``INSERT … SELECT`` per level; ``notify_users`` with the reminded ids (one
``INSERT … SELECT`` per 5,000, which keeps the ``IN`` list under the drivers' parameter limits); and, only
when someone was escalated, ``notify_counts`` for the unit leaders, again for the supervising leaders, and a
count of unrouted escalations. This run's escalations are the ``LEADER`` rows above the id read first: ids
only grow, and the job's lease lets one run write at a time. A leader is told once per run with the number
of absent accounts (``{"count": n}``), not once per account.

Payloads (for clients and the outbox's templates): ``{"level": "ACCOUNT", "days": "7"}`` to the account;
``{"count": n, "level": "LEADER", "days": "14", "scope": "UNIT" | "SUBORDINATE"}`` to leaders, ``UNIT``
for absences in their own unit, ``SUBORDINATE`` in a unit below with no present leader of its own.

The run is the system's: when it sent anything, one audit row ``login_reminder.sent`` with the counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Subquery, and_, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from backend.db import UnitOfWork
from backend.domain.actor import SystemActor
from backend.domain.audit.service import record_audit
from backend.domain.monitoring.repository import absent_since, is_monitored
from backend.domain.notifications.log import (
    SEQUENCE_CONFLICT_MARKS,
    NotificationKind,
    SequenceConflictError,
    notify_counts,
    notify_users,
)
from backend.models import LoginReminder, Unit, User, UserRole
from backend.models.enums import Role

if TYPE_CHECKING:
    from backend.domain.workflows.sweeps import Begin

MONITOR = SystemActor(name="login-monitor")
ACCOUNT = "ACCOUNT"
LEADER = "LEADER"
REMIND_AFTER = timedelta(days=7)
ESCALATE_AFTER = timedelta(days=14)
NOTIFY_CHUNK = 5000
RETRIES = 3


@dataclass
class ReminderReport:
    """What one run did; every count is 0 on an immediate second run."""

    reminded: int = 0  # accounts reminded (ACCOUNT rows written)
    escalated: int = 0  # absences escalated (LEADER rows written)
    leaders_told: int = 0  # leaders of the absent accounts' own units notified
    supervisors_told: int = 0  # leaders of supervising departments notified
    unrouted: int = 0  # escalations with no present leader in the unit and no leader above it

    def as_json(self) -> dict[str, int]:
        return {
            "reminded": self.reminded,
            "escalated": self.escalated,
            "leadersTold": self.leaders_told,
            "supervisorsTold": self.supervisors_told,
            "unrouted": self.unrouted,
        }


async def send_login_reminders(begin: Begin) -> dict[str, Any]:
    """The scheduled job: remind and escalate absences as of now, in one transaction (MON-1).

    A notification numbered at the same moment by a request for the same user makes the transaction lose
    the race (``SequenceConflictError``); it wrote nothing, so it is run again, a few times.
    """
    for attempt in range(RETRIES):
        try:
            async with begin() as uow:
                report = await remind_absent_accounts(uow)
            return dict(report.as_json())
        except (SequenceConflictError, IntegrityError) as error:
            if not _lost_sequence_race(error) or attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _lost_sequence_race(error: Exception) -> bool:
    if isinstance(error, SequenceConflictError):
        return True
    return any(mark in str(getattr(error, "orig", error)) for mark in SEQUENCE_CONFLICT_MARKS)


async def remind_absent_accounts(uow: UnitOfWork) -> ReminderReport:
    """Remind accounts absent 7 days and tell leaders of those absent 14, once per absence (MON-1)."""
    session = uow.session
    now = uow.clock.now()
    report = ReminderReport()
    before = int(await session.scalar(select(func.coalesce(func.max(LoginReminder.id), 0))) or 0)

    accounts = _record(uow, ACCOUNT, now - REMIND_AFTER).returning(LoginReminder.user_id)
    reminded = list((await session.execute(accounts)).scalars())
    report.reminded = len(reminded)
    for start in range(0, len(reminded), NOTIFY_CHUNK):
        await notify_users(
            uow,
            reminded[start : start + NOTIFY_CHUNK],
            NotificationKind.LOGIN_REMINDER,
            {"level": ACCOUNT, "days": str(REMIND_AFTER.days)},
        )

    escalated = await session.execute(_record(uow, LEADER, now - ESCALATE_AFTER))
    report.escalated = max(int(getattr(escalated, "rowcount", 0) or 0), 0)
    if report.escalated:
        await _tell_leaders(uow, _escalated_since(before), report)
    if report.reminded or report.escalated:
        await record_audit(
            uow,
            actor=MONITOR,
            operation="login_reminder.sent",
            target_type="login_reminder",
            target_id=None,
            after=report.as_json(),
        )
    return report


def _record(uow: UnitOfWork, level: str, absent_by: datetime) -> Any:
    """Insert a ``level`` reminder for every monitored account absent since ``absent_by`` or earlier.

    One ``INSERT … SELECT … ON CONFLICT DO NOTHING``: an absence reminded before conflicts on the unique
    key and adds nothing.
    """
    since = absent_since()
    rows = (
        select(
            User.id,
            literal(level, LoginReminder.level.type),
            since,
            literal(uow.clock.now(), LoginReminder.sent_at.type),
        )
        .select_from(User)
        .join(Unit, Unit.id == User.unit_id)
        .where(is_monitored(), since <= absent_by)
    )
    dialect_insert = (
        postgresql.insert if uow.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    return (
        dialect_insert(LoginReminder)
        .from_select(
            [LoginReminder.user_id, LoginReminder.level, LoginReminder.absent_since, LoginReminder.sent_at],
            rows,
        )
        .on_conflict_do_nothing(index_elements=["user_id", "level", "absent_since"])
    )


def _escalated_since(before: int) -> Subquery:
    """This run's escalations: ``(absent_id, unit_id, parent_id)`` of the LEADER rows above ``before``."""
    return (
        select(
            LoginReminder.user_id.label("absent_id"),
            User.unit_id.label("unit_id"),
            Unit.parent_id.label("parent_id"),
        )
        .join(User, User.id == LoginReminder.user_id)
        .join(Unit, Unit.id == User.unit_id)
        .where(LoginReminder.id > before, LoginReminder.level == LEADER)
        .subquery("escalated")
    )


def _leader_conditions(
    leader: Any, unit_id: Any, *, other_than: Any = None, present_by: datetime | None = None
) -> ColumnElement[bool]:
    """``leader`` (a ``User`` alias) is an active account of ``unit_id``, optionally not ``other_than``.

    With ``present_by``, only one that signed in (or was created) after it. Whether it leads is a join
    on its roles (``_leads``).
    """
    conditions = [leader.unit_id == unit_id, leader.is_active]
    if other_than is not None:
        conditions.append(leader.id != other_than)
    if present_by is not None:
        conditions.append(func.coalesce(leader.last_sign_in_at, leader.created_at) > present_by)
    return and_(*conditions)


def _leads(role: Any, leader: Any) -> ColumnElement[bool]:
    return and_(role.user_id == leader.id, role.role == Role.LEADER)


def _some_leader(unit_id: Any, **conditions: Any) -> ColumnElement[bool]:
    leader, role = aliased(User), aliased(UserRole)
    return (
        select(leader.id)
        .join(role, _leads(role, leader))
        .where(_leader_conditions(leader, unit_id, **conditions))
        .exists()
    )


async def _tell_leaders(uow: UnitOfWork, escalated: Subquery, report: ReminderReport) -> None:
    """Tell the unit's present leaders, or the supervising department's when there is none (MON-1).

    A unit's leader is present unless absent for 14 days itself: telling one absentee of another helps
    nobody, so a unit whose leaders are all away (or which has none, or whose only leader is the absent
    account) is reported to the leaders of the department above, who are told whatever their own habits.
    """
    e = escalated.c
    present: dict[str, Any] = {"other_than": e.absent_id, "present_by": uow.clock.now() - ESCALATE_AFTER}
    payload = {"level": LEADER, "days": str(ESCALATE_AFTER.days)}

    leader, leader_role = aliased(User), aliased(UserRole)
    own = (
        select(leader.id, func.count())
        .select_from(escalated)
        .join(leader, _leader_conditions(leader, e.unit_id, **present))
        .join(leader_role, _leads(leader_role, leader))
        .group_by(leader.id)
    )
    report.leaders_told = await notify_counts(
        uow, own, NotificationKind.LOGIN_REMINDER, {**payload, "scope": "UNIT"}
    )

    unit_has_leader = _some_leader(e.unit_id, **present)
    above, above_role = aliased(User), aliased(UserRole)
    supervising = (
        select(above.id, func.count())
        .select_from(escalated)
        .join(above, _leader_conditions(above, e.parent_id))
        .join(above_role, _leads(above_role, above))
        .where(~unit_has_leader)
        .group_by(above.id)
    )
    report.supervisors_told = await notify_counts(
        uow, supervising, NotificationKind.LOGIN_REMINDER, {**payload, "scope": "SUBORDINATE"}
    )

    unrouted = select(func.count()).select_from(escalated).where(~unit_has_leader, ~_some_leader(e.parent_id))
    report.unrouted = int(await uow.session.scalar(unrouted) or 0)
