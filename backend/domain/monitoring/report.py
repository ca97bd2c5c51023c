"""The login-compliance report (MON-1): account usage by region, for department leaders.

For a unit in the caller's jurisdiction (ORG-3) — its own unit by default — the report has one line per
direct child (a county leader sees each school, a city leader each county, a province leader each city),
a line for the unit's own accounts (本级) when it is itself monitored (a county, a school), and the total.
Each line counts, over the monitored accounts (``repository``) in that part of the tree:

- accounts, and those compliant in the window: signed in successfully at least once (the sign-in log,
  ``SignInEvent``), or created during it (a new account has a week, as with the reminders);
- the successful sign-ins in the window, and per account (the window is one week, so this is sign-ins
  per week per account);
- pending workflow steps waiting on the monitored units there for more than N working days (default 5):
  "handle pending business promptly".

The window is the last 7 days up to now (what the reminders measure), or one ISO week, Monday 00:00 to
Monday 00:00 Beijing time (cut at now for the current week). The population is today's: accounts active
now and created before the window's end. The non-compliant accounts are listed with their last sign-in
before the window's end and the whole days since then (or since creation, if they never signed in),
longest absent first.

Access: the department leaders who read the audit log (``READ_AUDIT_LOG``: LEADER at a department,
OVERSIGHT, the own subtree). The report shows nothing they cannot already read there — every sign-in is an
audit row — only counted, and the leader at a department is the one who "queries and analyses" (ORG-2).

A handful of statements whatever the size of the region, every count grouped in SQL: the children; the
per-line counts; the non-compliant list; the pending steps; the calendar unless given. Accounts are
grouped under a child by a range join on the materialised path (``child.path ≤ path < child.path~``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Subquery, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from backend.calendar import WorkingDayCalendar, load_calendar
from backend.clock import SHANGHAI, local
from backend.domain.actor import Actor
from backend.domain.errors import ValidationError
from backend.domain.monitoring.repository import MONITORED_UNIT_KINDS, has_role, is_monitored
from backend.domain.permissions import Operation, authorize
from backend.domain.units.repository import subtree_filter, unit_in_jurisdiction
from backend.models import SignInEvent, Unit, User, WorkflowStep
from backend.models.enums import Role, StepState, UnitKind

WEEK = timedelta(days=7)
DEFAULT_PENDING_WORKING_DAYS = 5
MAX_PENDING_WORKING_DAYS = 60


@dataclass(frozen=True)
class ComplianceLine:
    """One line of the report: a child unit's subtree, the unit's own accounts, or the total."""

    unit_id: int
    unit_name: str
    unit_code: str
    unit_kind: UnitKind
    own_level: bool  # the unit's own accounts (本级), not its subtree
    accounts: int = 0
    compliant: int = 0
    sign_ins: int = 0
    pending_steps: int = 0

    @property
    def non_compliant(self) -> int:
        return self.accounts - self.compliant

    @property
    def percentage(self) -> float | None:
        """Compliant accounts in percent, one decimal; ``None`` when nobody is monitored there."""
        return round(100 * self.compliant / self.accounts, 1) if self.accounts else None

    @property
    def sign_ins_per_account(self) -> float | None:
        """Successful sign-ins in the window (one week) per monitored account, two decimals."""
        return round(self.sign_ins / self.accounts, 2) if self.accounts else None


@dataclass(frozen=True)
class AbsentAccount:
    """A monitored account with no sign-in in the window."""

    user_id: int
    username: str
    display_name: str
    unit_id: int
    unit_name: str
    unit_code: str
    roles: tuple[Role, ...]
    last_sign_in_at: datetime | None  # the last before the window's end; None: never
    days_absent: int  # whole days from then (or the account's creation) to the window's end


@dataclass(frozen=True)
class LoginComplianceReport:
    unit: Unit
    window_start: datetime
    window_end: datetime
    iso_week: str | None  # "2026-W48" when a week was asked for
    pending_older_than_working_days: int
    pending_opened_before: datetime  # steps opened before this instant are counted
    lines: list[ComplianceLine]
    total: ComplianceLine
    non_compliant: list[AbsentAccount] = field(default_factory=list)


async def login_compliance(
    session: AsyncSession,
    actor: Actor,
    *,
    now: datetime,
    unit_id: int | None = None,
    week: date | None = None,
    pending_older_than_working_days: int = DEFAULT_PENDING_WORKING_DAYS,
    calendar: WorkingDayCalendar | None = None,
) -> LoginComplianceReport:
    """Account usage of the monitored accounts below ``unit_id`` (default: the actor's unit) (MON-1).

    Args:
        session: A read session.
        actor: A department leader (``READ_AUDIT_LOG``); the unit must lie in the actor's subtree (ORG-3).
        now: The clock's now.
        unit_id: The unit to report on; the actor's own by default.
        week: Any day of the ISO week to report on; the last 7 days when omitted.
        pending_older_than_working_days: Count pending steps waiting longer than this (0–60).
        calendar: The working-day calendar; loaded from the database when omitted.

    Raises:
        ForbiddenError: not a department leader.
        NotFoundError: the unit is absent or outside the actor's jurisdiction (field ``unitId``).
        ValidationError: a week in the future, or the number of working days out of range.
        CalendarYearUnknownError: the working days cross a year nobody entered.
    """
    authorize(actor, Operation.READ_AUDIT_LOG)
    scope = await unit_in_jurisdiction(
        session, actor, actor.unit_id if unit_id is None else unit_id, field="unitId"
    )
    window = report_window(now, week)
    if not 0 <= pending_older_than_working_days <= MAX_PENDING_WORKING_DAYS:
        raise ValidationError(
            f"工作日数须在 0 到 {MAX_PENDING_WORKING_DAYS} 之间", field="pendingOlderThanWorkingDays"
        )
    calendar = calendar or await load_calendar(session)
    cutoff_day = pending_cutoff(calendar, local(now).date(), pending_older_than_working_days)
    opened_before = datetime.combine(cutoff_day, time(), tzinfo=SHANGHAI)

    children = list(
        (await session.scalars(select(Unit).where(Unit.parent_id == scope.id).order_by(Unit.code))).all()
    )
    accounts = _accounts(scope, window)
    counts = await _counts(session, accounts)
    pending = await _pending(session, scope, opened_before)

    lines: list[ComplianceLine] = []
    if scope.kind in MONITORED_UNIT_KINDS or scope.id in counts or scope.id in pending:
        lines.append(_line(scope, True, counts.get(scope.id), pending.get(scope.id, 0)))
    for child in children:
        if child.is_active or child.id in counts or child.id in pending:
            lines.append(_line(child, False, counts.get(child.id), pending.get(child.id, 0)))
    total = ComplianceLine(
        unit_id=scope.id,
        unit_name=scope.name,
        unit_code=scope.code,
        unit_kind=scope.kind,
        own_level=False,
        accounts=sum(line.accounts for line in lines),
        compliant=sum(line.compliant for line in lines),
        sign_ins=sum(line.sign_ins for line in lines),
        pending_steps=sum(line.pending_steps for line in lines),
    )
    return LoginComplianceReport(
        unit=scope,
        window_start=window.start,
        window_end=window.end,
        iso_week=window.iso_week,
        pending_older_than_working_days=pending_older_than_working_days,
        pending_opened_before=opened_before,
        lines=lines,
        total=total,
        non_compliant=await _absent(session, accounts, window),
    )


@dataclass(frozen=True)
class Window:
    """The report's window: the last 7 days ``(now - 7 days, now]``, or an ISO week ``[Monday, Monday)``.

    The last 7 days exclude their first instant, as the reminders do: an account last seen exactly 7
    days ago is reminded, so it is not compliant either. A week is cut at now while it runs (then now
    is in).
    """

    start: datetime
    end: datetime
    iso_week: str | None
    end_is_now: bool

    def after_start(self, column: Any) -> ColumnElement[bool]:
        return cast(
            ColumnElement[bool], column > self.start if self.iso_week is None else column >= self.start
        )

    def before_end(self, column: Any) -> ColumnElement[bool]:
        return cast(ColumnElement[bool], column <= self.end if self.end_is_now else column < self.end)


def report_window(now: datetime, week: date | None) -> Window:
    """The last 7 days, or the ISO week of ``week`` in Beijing time, cut at now.

    Raises:
        ValidationError: the week has not begun.
    """
    if week is None:
        return Window(now - WEEK, now, None, end_is_now=True)
    monday = week - timedelta(days=week.weekday())
    start = datetime.combine(monday, time(), tzinfo=SHANGHAI)
    if start > now:
        raise ValidationError("不能统计尚未开始的周", field="week")
    year, number, _ = monday.isocalendar()
    end = start + WEEK
    return Window(start, min(end, now), f"{year}-W{number:02d}", end_is_now=end > now)


def pending_cutoff(calendar: WorkingDayCalendar, today: date, working_days: int) -> date:
    """The first opening day NOT counted: steps opened before it have waited over ``working_days``.

    A step opened on day D has waited ``working_days_between(D, today)`` working days (the opening day
    does not count, TRF-4's convention). That exceeds N exactly when D lies before the (N+1)-th working
    day counted back from today (today included, if it is one).
    """
    day, seen = today, 0
    while True:
        if calendar.is_workday(day):
            seen += 1
            if seen == working_days + 1:
                return day
        day -= timedelta(days=1)


def _by_child(scope: Unit, path: Any) -> tuple[Any, Any, Any]:
    """A child alias, the join putting ``path`` under it, and the line key: the child, else the scope."""
    child = aliased(Unit, name="child")
    on = and_(child.parent_id == scope.id, path >= child.path, path < child.path + "~")
    return child, on, func.coalesce(child.id, scope.id)


def _accounts(scope: Unit, window: Window) -> Subquery:
    """Monitored accounts of the subtree: id, line key, compliance, successful sign-ins in the window."""
    child, on, key = _by_child(scope, Unit.path)
    sign_ins = (
        select(func.count())
        .where(SignInEvent.user_id == User.id, SignInEvent.success, window.after_start(SignInEvent.at))
        .where(window.before_end(SignInEvent.at))
        .scalar_subquery()
    )
    # A new account has a week, as with the reminders: created in the window, it is not late yet.
    new = window.after_start(User.created_at)
    return (
        select(
            User.id.label("user_id"),
            key.label("line_id"),
            case((or_(sign_ins > 0, new), 1), else_=0).label("compliant"),
            sign_ins.label("sign_ins"),
        )
        .select_from(User)
        .join(Unit, Unit.id == User.unit_id)
        .outerjoin(child, on)
        .where(is_monitored(), subtree_filter(Unit.path, scope.path), window.before_end(User.created_at))
        .subquery("accounts")
    )


async def _counts(session: AsyncSession, accounts: Subquery) -> dict[int, tuple[int, int, int]]:
    """``{line: (accounts, compliant, sign-ins)}``, grouped in SQL."""
    a = accounts.c
    rows = await session.execute(
        select(
            a.line_id,
            func.count(),
            func.coalesce(func.sum(a.compliant), 0),
            func.coalesce(func.sum(a.sign_ins), 0),
        ).group_by(a.line_id)
    )
    return {int(line): (int(n), int(ok), int(ins)) for line, n, ok, ins in rows}


async def _pending(session: AsyncSession, scope: Unit, opened_before: datetime) -> dict[int, int]:
    """``{line: pending steps}`` waiting on monitored units since before ``opened_before``."""
    child, on, key = _by_child(scope, Unit.path)
    rows = await session.execute(
        select(key, func.count())
        .select_from(WorkflowStep)
        .join(Unit, Unit.id == WorkflowStep.acting_unit_id)
        .outerjoin(child, on)
        .where(
            WorkflowStep.state == StepState.PENDING,
            WorkflowStep.opened_at < opened_before,
            Unit.kind.in_(MONITORED_UNIT_KINDS),
            subtree_filter(Unit.path, scope.path),
        )
        .group_by(key)
    )
    return {int(line): int(n) for line, n in rows}


async def _absent(session: AsyncSession, accounts: Subquery, window: Window) -> list[AbsentAccount]:
    """The non-compliant accounts, longest absent first."""
    a = accounts.c
    last_event = (
        select(func.max(SignInEvent.at))
        .where(SignInEvent.user_id == User.id, SignInEvent.success, window.before_end(SignInEvent.at))
        .scalar_subquery()
    )
    # The account's own mark is its latest sign-in; when that lies after the window, ask the log.
    last_seen = case((window.before_end(User.last_sign_in_at), User.last_sign_in_at), else_=last_event)
    rows = await session.execute(
        select(
            User.id,
            User.username,
            User.display_name,
            Unit.id,
            Unit.name,
            Unit.code,
            User.created_at,
            last_seen,
            has_role(Role.REGISTRAR),
            has_role(Role.LEADER),
        )
        .select_from(accounts)
        .join(User, User.id == a.user_id)
        .join(Unit, Unit.id == User.unit_id)
        .where(a.compliant == 0)
        .order_by(func.coalesce(last_seen, User.created_at), User.username)
    )
    absent: list[AbsentAccount] = []
    for user_id, username, name, unit_id, unit_name, unit_code, created, last, registrar, leader in rows:
        roles = tuple(role for role, held in ((Role.REGISTRAR, registrar), (Role.LEADER, leader)) if held)
        absent.append(
            AbsentAccount(
                user_id=user_id,
                username=username,
                display_name=name,
                unit_id=unit_id,
                unit_name=unit_name,
                unit_code=unit_code,
                roles=roles,
                last_sign_in_at=last,
                days_absent=max((window.end - (last or created)).days, 0),
            )
        )
    return absent


def _line(unit: Unit, own_level: bool, counts: tuple[int, int, int] | None, pending: int) -> ComplianceLine:
    accounts, compliant, sign_ins = counts or (0, 0, 0)
    return ComplianceLine(
        unit_id=unit.id,
        unit_name=unit.name,
        unit_code=unit.code,
        unit_kind=unit.kind,
        own_level=own_level,
        accounts=accounts,
        compliant=compliant,
        sign_ins=sign_ins,
        pending_steps=pending,
    )
