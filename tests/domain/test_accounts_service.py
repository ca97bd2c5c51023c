"""Accounts: sign-in and lockout, sessions, the password policy, administration, delegation, the audit log.

Each step runs in its own unit of work, committed like one real request, so what a refused sign-in
counts and logs must survive, and what a refused operation tried to write must vanish.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import select

from backend.clock import FixedClock, local
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.accounts.passwords import check_password_policy
from backend.domain.accounts.service import (
    SignedIn,
    SignInRefused,
    authenticate,
    change_password,
    create_user,
    generate_initial_password,
    register_delegation,
    reset_password,
    revoke_delegation,
    sign_in,
    sign_out,
    start_delegated_session,
    unlock_user,
    update_user,
)
from backend.domain.actor import Actor
from backend.domain.audit.service import AuditFilter, read_audit_log
from backend.domain.errors import DomainError
from backend.domain.permissions import Operation, authorize
from backend.models import AuditEntry, AuthSession, Delegation, PasswordHistory, SignInEvent, User
from backend.models.enums import Role, UnitKind
from tests.domain.factories import PASSWORD, Tree, actor_of, build_tree, count_rows, make_user

Step = Callable[[], AbstractAsyncContextManager[UnitOfWork]]
Action = Callable[[UnitOfWork], Awaitable[Any]]


@pytest.fixture
def step(db: Database, clock: FixedClock, settings: Settings) -> Step:
    """Open one unit of work: one request, committed when its block ends without error."""
    return lambda: db.unit_of_work(clock, settings)


@pytest.fixture
async def tree(step: Step) -> Tree:
    async with step() as uow:
        return await build_tree(uow)


# --- helpers ---------------------------------------------------------------------------------------


async def refusal(step: Step, action: Action) -> DomainError:
    """Run ``action`` in its own unit of work, expect a ``DomainError``; the work is rolled back."""
    try:
        async with step() as uow:
            await action(uow)
    except DomainError as error:
        return error
    pytest.fail("expected a DomainError")


async def attempt(step: Step, username: str, password: str = PASSWORD) -> SignedIn | SignInRefused:
    async with step() as uow:
        return await sign_in(uow, username=username, password=password, ip="10.0.0.7")


async def signed_in(step: Step, username: str, password: str = PASSWORD) -> SignedIn:
    result = await attempt(step, username, password)
    assert isinstance(result, SignedIn), result
    return result


async def refused_code(step: Step, username: str, password: str) -> str:
    result = await attempt(step, username, password)
    assert isinstance(result, SignInRefused), result
    return result.error.code


async def authenticated(step: Step, token: str) -> Actor:
    async with step() as uow:
        return await authenticate(uow, token)


async def load_user(step: Step, user_id: int) -> User:
    async with step() as uow:
        user = await uow.session.get(User, user_id)
    assert user is not None
    return user


async def sign_in_events(step: Step) -> list[SignInEvent]:
    async with step() as uow:
        return list(await uow.session.scalars(select(SignInEvent).order_by(SignInEvent.id)))


async def audit_rows(step: Step, operation: str | None = None) -> list[AuditEntry]:
    async with step() as uow:
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        if operation is not None:
            stmt = stmt.where(AuditEntry.operation == operation)
        return list(await uow.session.scalars(stmt))


async def seed_user(step: Step, unit_attr: str, tree: Tree, username: str, *roles: Role) -> User:
    async with step() as uow:
        return await make_user(uow, getattr(tree, unit_attr), username, roles or (Role.REGISTRAR,))


async def actor(step: Step, user: User) -> Actor:
    async with step() as uow:
        return await actor_of(uow.session, user)


# --- sign-in and lockout ---------------------------------------------------------------------------


async def test_sign_in_opens_a_session_whose_token_authenticates(
    step: Step, tree: Tree, clock: FixedClock
) -> None:
    # RULES: SEC-1
    user = await seed_user(step, "school_a1", tree, "reg.a1", Role.REGISTRAR, Role.LEADER)

    result = await signed_in(step, "  REG.A1 ")

    assert result.user.id == user.id
    assert result.password_change_required is False
    assert result.expires_at == clock.now() + timedelta(hours=12)
    acting = await authenticated(step, result.token)
    assert acting.user_id == user.id
    assert acting.username == "reg.a1"
    assert acting.unit_id == tree.school_a1.id
    assert acting.unit_path == tree.school_a1.path
    assert acting.unit_kind is UnitKind.SCHOOL
    assert acting.roles == frozenset({Role.REGISTRAR, Role.LEADER})
    assert acting.delegate_id is None
    assert acting.password_change_required is False
    stored = await load_user(step, user.id)
    assert stored.last_sign_in_at == clock.now()
    assert stored.failed_attempts == 0
    events = await sign_in_events(step)
    assert [(e.username, e.user_id, e.unit_id, e.success, e.reason) for e in events] == [
        ("reg.a1", user.id, tree.school_a1.id, True, "OK")
    ]
    assert events[0].ip == "10.0.0.7"
    audits = await audit_rows(step, "account.signed_in")
    assert len(audits) == 1
    assert audits[0].user_id == user.id
    assert (audits[0].target_type, audits[0].target_id) == ("user", str(user.id))
    assert audits[0].after == {"session": acting.session_id}
    async with step() as uow:
        sessions = list(await uow.session.scalars(select(AuthSession)))
    assert len(sessions) == 1
    assert sessions[0].id == acting.session_id
    assert sessions[0].token_hash != result.token  # only the hash is stored


async def test_wrong_password_counts_a_failure_and_logs_it(step: Step, tree: Tree) -> None:
    # RULES: SEC-1, MON-1
    user = await seed_user(step, "school_a1", tree, "reg.a1")

    assert await refused_code(step, "reg.a1", "Wrong#Pass1") == "INVALID_CREDENTIALS"

    assert (await load_user(step, user.id)).failed_attempts == 1
    events = await sign_in_events(step)
    assert [(e.user_id, e.success, e.reason) for e in events] == [(user.id, False, "WRONG_PASSWORD")]
    async with step() as uow:
        assert await count_rows(uow.session, AuthSession) == 0


async def test_unknown_user_is_refused_like_a_wrong_password_and_logged(step: Step, tree: Tree) -> None:
    # RULES: SEC-1, MON-1
    assert await refused_code(step, "Nobody.Here", PASSWORD) == "INVALID_CREDENTIALS"

    events = await sign_in_events(step)
    assert [(e.username, e.user_id, e.unit_id, e.success, e.reason) for e in events] == [
        ("nobody.here", None, None, False, "UNKNOWN_USER")
    ]


async def test_deactivated_user_cannot_sign_in(step: Step, tree: Tree) -> None:
    # RULES: SEC-1
    async with step() as uow:
        user = await make_user(uow, tree.school_a1, "reg.a1", is_active=False)

    assert await refused_code(step, "reg.a1", PASSWORD) == "INVALID_CREDENTIALS"

    events = await sign_in_events(step)
    assert [(e.user_id, e.success, e.reason) for e in events] == [(user.id, False, "DISABLED")]


async def test_fifth_consecutive_failure_locks_for_fifteen_minutes(
    step: Step, tree: Tree, clock: FixedClock
) -> None:
    # RULES: SEC-1, MON-1
    user = await seed_user(step, "school_a1", tree, "reg.a1")
    for expected_count in range(1, 5):
        assert await refused_code(step, "reg.a1", "Wrong#Pass1") == "INVALID_CREDENTIALS"
        assert (await load_user(step, user.id)).failed_attempts == expected_count

    fifth = await attempt(step, "reg.a1", "Wrong#Pass1")

    assert isinstance(fifth, SignInRefused)
    assert fifth.error.code == "ACCOUNT_LOCKED"
    until = clock.now() + timedelta(minutes=15)
    assert (await load_user(step, user.id)).locked_until == until
    assert f"{local(until):%Y-%m-%d %H:%M}" == "2026-11-25 10:15"
    assert "2026-11-25 10:15" in fifth.error.message
    assert "北京时间" in fifth.error.message

    # While locked even the right password is refused, and opens no session.
    clock.advance(timedelta(minutes=14, seconds=59))
    assert await refused_code(step, "reg.a1", PASSWORD) == "ACCOUNT_LOCKED"
    async with step() as uow:
        assert await count_rows(uow.session, AuthSession) == 0

    # Fifteen minutes after the lock, the right password works and the counter is clear.
    clock.advance(timedelta(seconds=1))
    await signed_in(step, "reg.a1")
    stored = await load_user(step, user.id)
    assert stored.failed_attempts == 0
    assert stored.locked_until is None

    events = await sign_in_events(step)
    assert [(e.success, e.reason) for e in events] == [
        (False, "WRONG_PASSWORD"),
        (False, "WRONG_PASSWORD"),
        (False, "WRONG_PASSWORD"),
        (False, "WRONG_PASSWORD"),
        (False, "LOCKED_NOW"),
        (False, "LOCKED"),
        (True, "OK"),
    ]
    assert {e.user_id for e in events} == {user.id}


async def test_only_consecutive_failures_lock(step: Step, tree: Tree) -> None:
    # RULES: SEC-1
    user = await seed_user(step, "school_a1", tree, "reg.a1")
    for _ in range(4):
        await refused_code(step, "reg.a1", "Wrong#Pass1")
    await signed_in(step, "reg.a1")
    assert (await load_user(step, user.id)).failed_attempts == 0

    for _ in range(4):
        assert await refused_code(step, "reg.a1", "Wrong#Pass1") == "INVALID_CREDENTIALS"

    stored = await load_user(step, user.id)
    assert stored.failed_attempts == 4
    assert stored.locked_until is None


# --- sessions --------------------------------------------------------------------------------------


async def test_session_expires_after_ten_idle_minutes(step: Step, tree: Tree, clock: FixedClock) -> None:
    # RULES: SEC-1
    await seed_user(step, "school_a1", tree, "reg.a1")
    session = await signed_in(step, "reg.a1")

    clock.advance(timedelta(minutes=10))
    error = await refusal(step, lambda uow: authenticate(uow, session.token))

    assert error.code == "SESSION_EXPIRED"
    # A later request with the same token stays refused.
    clock.advance(timedelta(seconds=1))
    assert (await refusal(step, lambda uow: authenticate(uow, session.token))).code == "SESSION_EXPIRED"


async def test_activity_keeps_a_session_alive(step: Step, tree: Tree, clock: FixedClock) -> None:
    # RULES: SEC-1
    await seed_user(step, "school_a1", tree, "reg.a1")
    session = await signed_in(step, "reg.a1")

    for _ in range(5):
        clock.advance(timedelta(minutes=9))
        assert (await authenticated(step, session.token)).username == "reg.a1"

    # Nine idle minutes after the last request (45 after sign-in), still fine; ten is too many.
    clock.advance(timedelta(minutes=9, seconds=59))
    await authenticated(step, session.token)
    clock.advance(timedelta(minutes=10))
    assert (await refusal(step, lambda uow: authenticate(uow, session.token))).code == "SESSION_EXPIRED"


async def test_requests_within_thirty_seconds_do_not_move_last_seen(
    step: Step, tree: Tree, clock: FixedClock
) -> None:
    # RULES: SEC-1 (last_seen_at is written at most every 30 s, so idle time counts from that write)
    await seed_user(step, "school_a1", tree, "reg.a1")
    session = await signed_in(step, "reg.a1")
    signed_at = clock.now()

    clock.advance(timedelta(seconds=29))
    acting = await authenticated(step, session.token)
    async with step() as uow:
        row = await uow.session.get(AuthSession, acting.session_id)
        assert row is not None
        assert row.last_seen_at == signed_at

    clock.set(signed_at + timedelta(minutes=10))
    assert (await refusal(step, lambda uow: authenticate(uow, session.token))).code == "SESSION_EXPIRED"


async def test_session_ends_at_the_absolute_limit_despite_activity(
    db: Database, clock: FixedClock, settings: Settings, tree: Tree, step: Step
) -> None:
    # RULES: SEC-1
    await seed_user(step, "school_a1", tree, "reg.a1")
    patient = replace(settings, idle_timeout_minutes=24 * 60)

    def patient_step() -> AbstractAsyncContextManager[UnitOfWork]:
        return db.unit_of_work(clock, patient)

    session = await signed_in(patient_step, "reg.a1")

    clock.advance(timedelta(hours=11, minutes=59))
    await authenticated(patient_step, session.token)
    clock.advance(timedelta(minutes=1))
    error = await refusal(patient_step, lambda uow: authenticate(uow, session.token))

    assert error.code == "SESSION_EXPIRED"


async def test_sign_out_revokes_only_that_session(step: Step, tree: Tree, clock: FixedClock) -> None:
    # RULES: SEC-1
    await seed_user(step, "school_a1", tree, "reg.a1")
    first = await signed_in(step, "reg.a1")
    second = await signed_in(step, "reg.a1")
    acting = await authenticated(step, first.token)

    async with step() as uow:
        await sign_out(uow, actor=acting)

    assert (await refusal(step, lambda uow: authenticate(uow, first.token))).code == "UNAUTHENTICATED"
    assert (await authenticated(step, second.token)).username == "reg.a1"
    async with step() as uow:
        row = await uow.session.get(AuthSession, acting.session_id)
        assert row is not None
        assert row.revoked_at == clock.now()
    audits = await audit_rows(step, "account.signed_out")
    assert [(a.user_id, a.target_id) for a in audits] == [(acting.user_id, str(acting.session_id))]


async def test_unknown_token_is_unauthenticated(step: Step, tree: Tree) -> None:
    # RULES: SEC-1
    assert (await refusal(step, lambda uow: authenticate(uow, "not-a-token"))).code == "UNAUTHENTICATED"


async def test_password_change_revokes_every_old_session_and_returns_a_new_one(
    step: Step, tree: Tree, clock: FixedClock
) -> None:
    # RULES: SEC-1
    user = await seed_user(step, "school_a1", tree, "reg.a1")
    first = await signed_in(step, "reg.a1")
    second = await signed_in(step, "reg.a1")
    acting = await authenticated(step, first.token)

    async with step() as uow:
        fresh = await change_password(
            uow, actor=acting, current_password=PASSWORD, new_password="New#Secret42"
        )

    for old in (first.token, second.token):
        assert (await refusal(step, partial(authenticate, token=old))).code == "UNAUTHENTICATED"
    now_acting = await authenticated(step, fresh.token)
    assert now_acting.user_id == user.id
    assert now_acting.password_change_required is False
    assert fresh.password_change_required is False
    stored = await load_user(step, user.id)
    assert stored.password_changed_at == clock.now()
    assert await refused_code(step, "reg.a1", PASSWORD) == "INVALID_CREDENTIALS"
    await signed_in(step, "reg.a1", "New#Secret42")
    audits = await audit_rows(step, "account.password_changed")
    assert [(a.user_id, a.target_id) for a in audits] == [(user.id, str(user.id))]


async def test_deactivated_users_sessions_are_refused(step: Step, tree: Tree) -> None:
    # RULES: SEC-1, ORG-2
    admin = await seed_user(step, "county_a", tree, "admin.ca", Role.SYSTEM_ADMINISTRATOR)
    user = await seed_user(step, "school_a1", tree, "reg.a1")
    session = await signed_in(step, "reg.a1")
    admin_actor = await actor(step, admin)

    async with step() as uow:
        await update_user(uow, actor=admin_actor, user_id=user.id, is_active=False)

    assert (await refusal(step, lambda uow: authenticate(uow, session.token))).code == "UNAUTHENTICATED"
    assert (await load_user(step, user.id)).is_active is False
    assert await refused_code(step, "reg.a1", PASSWORD) == "INVALID_CREDENTIALS"


async def test_session_of_user_deactivated_behind_its_back_is_refused(step: Step, tree: Tree) -> None:
    # RULES: SEC-1
    user = await seed_user(step, "school_a1", tree, "reg.a1")
    session = await signed_in(step, "reg.a1")
    async with step() as uow:
        stored = await uow.session.get(User, user.id)
        assert stored is not None
        stored.is_active = False

    assert (await refusal(step, lambda uow: authenticate(uow, session.token))).code == "SESSION_EXPIRED"


# --- password policy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "new_password",
    [
        pytest.param("Ab1#xyz", id="seven-characters"),
        pytest.param("Abcdefg#h", id="no-digit"),
        pytest.param("abcdef1#h", id="no-upper"),
        pytest.param("ABCDEF1#H", id="no-lower"),
        pytest.param("Abcdef12h", id="no-symbol"),
        pytest.param("Ab1#" + "x" * 125, id="over-128"),
    ],
)
async def test_weak_password_is_refused(step: Step, tree: Tree, new_password: str) -> None:
    # RULES: SEC-1
    user = await seed_user(step, "school_a1", tree, "reg.a1")
    acting = await actor(step, user)

    error = await refusal(
        step,
        lambda uow: change_password(uow, actor=acting, current_password=PASSWORD, new_password=new_password),
    )

    assert error.code == "WEAK_PASSWORD"
    assert error.field == "newPassword"
    await signed_in(step, "reg.a1", PASSWORD)
    async with step() as uow:
        assert await count_rows(uow.session, PasswordHistory) == 0


def test_eight_characters_of_four_kinds_pass_the_policy() -> None:
    # RULES: SEC-1
    check_password_policy("Ab1#defg", "reg.a1")


async def test_password_containing_the_username_is_refused(step: Step, tree: Tree) -> None:
    # RULES: SEC-1
    user = await seed_user(step, "school_a1", tree, "wang.li")
    acting = await actor(step, user)

    error = await refusal(
        step,
        lambda uow: change_password(uow, actor=acting, current_password=PASSWORD, new_password="1#WANG.Lix"),
    )

    assert error.code == "PASSWORD_CONTAINS_USERNAME"
    assert error.field == "newPassword"
    await signed_in(step, "wang.li", PASSWORD)


async def test_last_five_passwords_cannot_be_reused_the_sixth_oldest_can(step: Step, tree: Tree) -> None:
    # RULES: SEC-1
    user = await seed_user(step, "school_a1", tree, "reg.a1")
    acting = await actor(step, user)
    passwords = [PASSWORD, *(f"Round#{n}abc" for n in range(1, 6))]  # p0 (initial) .. p5
    for previous, new in zip(passwords, passwords[1:], strict=False):
        async with step() as uow:
            await change_password(uow, actor=acting, current_password=previous, new_password=new)
    current = passwords[-1]

    for reused in passwords[1:]:  # p1 .. p5: the last five, the current one included
        error = await refusal(
            step,
            partial(change_password, actor=acting, current_password=current, new_password=reused),
        )
        assert (error.code, error.field) == ("PASSWORD_REUSED", "newPassword")

    async with step() as uow:
        await change_password(uow, actor=acting, current_password=current, new_password=passwords[0])

    await signed_in(step, "reg.a1", passwords[0])
    async with step() as uow:
        assert await count_rows(uow.session, PasswordHistory, PasswordHistory.user_id == user.id) == 5


async def test_wrong_current_password_is_refused(step: Step, tree: Tree) -> None:
    # RULES: SEC-1
    user = await seed_user(step, "school_a1", tree, "reg.a1")
    session = await signed_in(step, "reg.a1")
    acting = await authenticated(step, session.token)

    error = await refusal(
        step,
        lambda uow: change_password(
            uow, actor=acting, current_password="Wrong#Pass1", new_password="New#Secret42"
        ),
    )

    assert (error.code, error.field) == ("WRONG_PASSWORD", "currentPassword")
    assert (await authenticated(step, session.token)).user_id == user.id
    await signed_in(step, "reg.a1", PASSWORD)


async def test_password_older_than_ninety_days_must_be_changed(
    step: Step, tree: Tree, clock: FixedClock
) -> None:
    # RULES: SEC-1
    user = await seed_user(step, "school_a1", tree, "reg.a1")
    async with step() as uow:
        stored = await uow.session.get(User, user.id)
        assert stored is not None
        stored.password_changed_at = clock.now() - timedelta(days=90)

    session = await signed_in(step, "reg.a1")
    acting = await authenticated(step, session.token)

    assert session.password_change_required is True
    assert acting.password_change_required is True
    authorize(acting, Operation.VIEW_OWN_ACCOUNT)
    with pytest.raises(DomainError) as caught:
        authorize(acting, Operation.VIEW_UNITS)
    assert caught.value.code == "PASSWORD_CHANGE_REQUIRED"

    async with step() as uow:
        fresh = await change_password(
            uow, actor=acting, current_password=PASSWORD, new_password="New#Secret42"
        )
    renewed = await authenticated(step, fresh.token)
    assert renewed.password_change_required is False
    authorize(renewed, Operation.VIEW_UNITS)


async def test_password_eighty_nine_days_old_is_still_valid(
    step: Step, tree: Tree, clock: FixedClock
) -> None:
    # RULES: SEC-1
    user = await seed_user(step, "school_a1", tree, "reg.a1")
    async with step() as uow:
        stored = await uow.session.get(User, user.id)
        assert stored is not None
        stored.password_changed_at = clock.now() - timedelta(days=89, hours=23)

    acting = await authenticated(step, (await signed_in(step, "reg.a1")).token)

    assert acting.password_change_required is False
    authorize(acting, Operation.VIEW_UNITS)


# --- administration --------------------------------------------------------------------------------


async def test_county_administrator_creates_an_account_in_a_school_below(
    step: Step, tree: Tree, clock: FixedClock
) -> None:
    # RULES: ORG-2, IME-5, IME-6, SEC-1
    admin = await seed_user(step, "county_a", tree, "admin.ca", Role.SYSTEM_ADMINISTRATOR)
    admin_actor = await actor(step, admin)

    async with step() as uow:
        issued = await create_user(
            uow,
            actor=admin_actor,
            username=" Zhang.Wei ",
            display_name=" 张伟 ",
            unit_id=tree.school_a1.id,
            roles=frozenset({Role.REGISTRAR}),
            phone=" 13800000000 ",
            email="",
        )

    check_password_policy(issued.initial_password, "zhang.wei")
    stored = await load_user(step, issued.user.id)
    assert (stored.username, stored.display_name, stored.unit_id) == ("zhang.wei", "张伟", tree.school_a1.id)
    assert (stored.phone, stored.email) == ("13800000000", None)
    assert stored.must_change_password is True
    assert stored.is_active is True
    audits = await audit_rows(step, "user.created")
    assert len(audits) == 1
    entry = audits[0]
    assert (entry.user_id, entry.role, entry.unit_id, entry.unit_path) == (
        admin.id,
        Role.SYSTEM_ADMINISTRATOR,
        tree.county_a.id,
        tree.county_a.path,
    )
    assert (entry.target_type, entry.target_id) == ("user", str(stored.id))
    assert entry.after is not None
    assert entry.after["roles"] == ["REGISTRAR"]
    assert entry.after["unitId"] == tree.school_a1.id

    # The initial password signs in, but only the own account is open until it is changed.
    first = await signed_in(step, "zhang.wei", issued.initial_password)
    acting = await authenticated(step, first.token)
    assert first.password_change_required is True
    assert acting.roles == frozenset({Role.REGISTRAR})
    assert acting.password_change_required is True
    authorize(acting, Operation.VIEW_OWN_ACCOUNT)
    with pytest.raises(DomainError) as caught:
        authorize(acting, Operation.VIEW_STUDENTS)
    assert caught.value.code == "PASSWORD_CHANGE_REQUIRED"


async def assert_nothing_written(step: Step, users: int, audits: int) -> None:
    async with step() as uow:
        assert await count_rows(uow.session, User) == users
        assert await count_rows(uow.session, AuditEntry) == audits


SA = Role.SYSTEM_ADMINISTRATOR
REGISTRAR = frozenset({Role.REGISTRAR})


@pytest.mark.parametrize(
    ("admin_role", "target_unit", "username", "roles", "code"),
    [
        pytest.param(SA, "school_b1", "zhang.wei", REGISTRAR, "NOT_FOUND", id="sibling-county-looks-absent"),
        pytest.param(SA, "city", "zhang.wei", REGISTRAR, "NOT_FOUND", id="unit-above-looks-absent"),
        pytest.param(
            Role.REGISTRAR, "school_a1", "zhang.wei", REGISTRAR, "FORBIDDEN", id="registrar-may-not"
        ),
        pytest.param(Role.LEADER, "school_a1", "zhang.wei", REGISTRAR, "FORBIDDEN", id="leader-may-not"),
        pytest.param(
            SA, "school_a1", "zhang.wei", REGISTRAR | {SA}, "ROLE_CONFLICT", id="admin-and-registrar"
        ),
        pytest.param(SA, "school_a1", "zhang.wei", {SA, Role.LEADER}, "ROLE_CONFLICT", id="admin-and-leader"),
        pytest.param(SA, "school_a1", "zhang.wei", frozenset(), "INVALID_INPUT", id="no-role"),
        pytest.param(SA, "school_a1", "Admin.CA", REGISTRAR, "USERNAME_TAKEN", id="duplicate-any-case"),
        pytest.param(SA, "school_a1", "zw", REGISTRAR, "INVALID_USERNAME", id="too-short"),
        pytest.param(SA, "school_a1", "-zhang", REGISTRAR, "INVALID_USERNAME", id="leading-hyphen"),
        pytest.param(SA, "school_a1", "张伟伟", REGISTRAR, "INVALID_USERNAME", id="not-ascii"),
        pytest.param(SA, "school_a1", "zhang wei", REGISTRAR, "INVALID_USERNAME", id="space"),
    ],
)
async def test_refused_account_creation_writes_nothing(
    step: Step,
    tree: Tree,
    admin_role: Role,
    target_unit: str,
    username: str,
    roles: frozenset[Role],
    code: str,
) -> None:
    # RULES: ORG-2, ORG-3, IME-5 (a county administrator, or a county registrar or leader)
    admin = await seed_user(step, "county_a", tree, "admin.ca", admin_role)
    admin_actor = await actor(step, admin)

    error = await refusal(
        step,
        lambda uow: create_user(
            uow,
            actor=admin_actor,
            username=username,
            display_name="张伟",
            unit_id=getattr(tree, target_unit).id,
            roles=frozenset(roles),
        ),
    )

    assert error.code == code
    await assert_nothing_written(step, users=1, audits=0)


async def test_operator_chosen_initial_password_must_meet_the_policy(step: Step, tree: Tree) -> None:
    # RULES: SEC-1
    admin = await seed_user(step, "county_a", tree, "admin.ca", Role.SYSTEM_ADMINISTRATOR)
    admin_actor = await actor(step, admin)

    error = await refusal(
        step,
        lambda uow: create_user(
            uow,
            actor=admin_actor,
            username="zhang.wei",
            display_name="张伟",
            unit_id=tree.school_a1.id,
            roles=frozenset({Role.REGISTRAR}),
            initial_password="password",
        ),
    )

    assert (error.code, error.field) == ("WEAK_PASSWORD", "password")
    await assert_nothing_written(step, users=1, audits=0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"roles": frozenset({Role.SUPER_ADMINISTRATOR})}, "roles", id="own-roles"),
        pytest.param({"is_active": False}, "isActive", id="deactivate-self"),
    ],
)
async def test_administrator_cannot_modify_own_roles_or_deactivate_self(
    step: Step, tree: Tree, changes: dict[str, Any], field: str
) -> None:
    # RULES: ORG-2, IME-5
    admin = await seed_user(step, "county_a", tree, "admin.ca", Role.SYSTEM_ADMINISTRATOR)
    admin_actor = await actor(step, admin)

    error = await refusal(step, lambda uow: update_user(uow, actor=admin_actor, user_id=admin.id, **changes))

    assert (error.code, error.field) == ("SELF_MODIFICATION", field)
    async with step() as uow:
        assert await uow.session.get(User, admin.id) is not None
        roles = (await actor_of(uow.session, admin)).roles
    assert roles == frozenset({Role.SYSTEM_ADMINISTRATOR})
    assert (await load_user(step, admin.id)).is_active is True
    await assert_nothing_written(step, users=1, audits=0)


async def test_role_change_revokes_the_targets_sessions(step: Step, tree: Tree) -> None:
    # RULES: ORG-2, IME-5
    admin = await seed_user(step, "county_a", tree, "admin.ca", Role.SYSTEM_ADMINISTRATOR)
    user = await seed_user(step, "school_a1", tree, "reg.a1", Role.REGISTRAR)
    session = await signed_in(step, "reg.a1")
    admin_actor = await actor(step, admin)

    async with step() as uow:
        await update_user(
            uow, actor=admin_actor, user_id=user.id, roles=frozenset({Role.LEADER}), display_name="李四"
        )

    assert (await refusal(step, lambda uow: authenticate(uow, session.token))).code == "UNAUTHENTICATED"
    again = await authenticated(step, (await signed_in(step, "reg.a1")).token)
    assert again.roles == frozenset({Role.LEADER})
    audits = await audit_rows(step, "user.updated")
    assert len(audits) == 1
    assert audits[0].before is not None and audits[0].after is not None
    assert (audits[0].before["roles"], audits[0].after["roles"]) == (["REGISTRAR"], ["LEADER"])
    assert (audits[0].before["displayName"], audits[0].after["displayName"]) == ("用户reg.a1", "李四")


async def test_role_change_to_a_conflicting_set_is_refused(step: Step, tree: Tree) -> None:
    # RULES: ORG-2
    admin = await seed_user(step, "county_a", tree, "admin.ca", Role.SYSTEM_ADMINISTRATOR)
    user = await seed_user(step, "school_a1", tree, "reg.a1", Role.REGISTRAR)
    session = await signed_in(step, "reg.a1")
    admin_actor = await actor(step, admin)
    audits_before = len(await audit_rows(step))

    error = await refusal(
        step,
        lambda uow: update_user(
            uow,
            actor=admin_actor,
            user_id=user.id,
            roles=frozenset({Role.REGISTRAR, Role.SYSTEM_ADMINISTRATOR}),
        ),
    )

    assert (error.code, error.field) == ("ROLE_CONFLICT", "roles")
    assert (await authenticated(step, session.token)).roles == frozenset({Role.REGISTRAR})
    assert len(await audit_rows(step)) == audits_before


async def test_user_of_a_sibling_county_looks_absent(step: Step, tree: Tree) -> None:
    # RULES: ORG-3
    admin = await seed_user(step, "county_a", tree, "admin.ca", Role.SYSTEM_ADMINISTRATOR)
    other = await seed_user(step, "school_b1", tree, "reg.b1")
    admin_actor = await actor(step, admin)

    for action in (
        lambda uow: update_user(uow, actor=admin_actor, user_id=other.id, display_name="x"),
        lambda uow: reset_password(uow, actor=admin_actor, user_id=other.id),
        lambda uow: unlock_user(uow, actor=admin_actor, user_id=other.id),
        lambda uow: update_user(uow, actor=admin_actor, user_id=999_999, display_name="x"),
    ):
        assert (await refusal(step, action)).code == "NOT_FOUND"
    assert (await load_user(step, other.id)).display_name == "用户reg.b1"
    await assert_nothing_written(step, users=2, audits=0)


async def test_reset_password_unlocks_ends_sessions_and_forces_a_change(step: Step, tree: Tree) -> None:
    # RULES: SEC-1, IME-5
    admin = await seed_user(step, "county_a", tree, "admin.ca", Role.SYSTEM_ADMINISTRATOR)
    user = await seed_user(step, "school_a1", tree, "reg.a1")
    session = await signed_in(step, "reg.a1")
    for _ in range(5):
        await attempt(step, "reg.a1", "Wrong#Pass1")
    assert (await load_user(step, user.id)).locked_until is not None
    admin_actor = await actor(step, admin)

    async with step() as uow:
        issued = await reset_password(uow, actor=admin_actor, user_id=user.id)

    stored = await load_user(step, user.id)
    assert (stored.locked_until, stored.failed_attempts, stored.must_change_password) == (None, 0, True)
    check_password_policy(issued.initial_password, "reg.a1")
    assert (await refusal(step, lambda uow: authenticate(uow, session.token))).code == "UNAUTHENTICATED"
    assert await refused_code(step, "reg.a1", PASSWORD) == "INVALID_CREDENTIALS"
    fresh = await signed_in(step, "reg.a1", issued.initial_password)
    acting = await authenticated(step, fresh.token)
    assert acting.password_change_required is True
    with pytest.raises(DomainError) as caught:
        authorize(acting, Operation.VIEW_UNITS)
    assert caught.value.code == "PASSWORD_CHANGE_REQUIRED"
    audits = await audit_rows(step, "user.password_reset")
    assert [(a.user_id, a.target_id) for a in audits] == [(admin.id, str(user.id))]
    # The reset password joins the history: the old one cannot come back at the forced change.
    error = await refusal(
        step,
        lambda uow: change_password(
            uow, actor=acting, current_password=issued.initial_password, new_password=PASSWORD
        ),
    )
    assert error.code == "PASSWORD_REUSED"


async def test_unlock_user_lets_a_locked_account_sign_in(step: Step, tree: Tree, clock: FixedClock) -> None:
    # RULES: SEC-1
    admin = await seed_user(step, "county_a", tree, "admin.ca", Role.SYSTEM_ADMINISTRATOR)
    user = await seed_user(step, "school_a1", tree, "reg.a1")
    for _ in range(5):
        await attempt(step, "reg.a1", "Wrong#Pass1")
    admin_actor = await actor(step, admin)

    async with step() as uow:
        await unlock_user(uow, actor=admin_actor, user_id=user.id)

    await signed_in(step, "reg.a1")
    audits = await audit_rows(step, "user.unlocked")
    assert len(audits) == 1
    assert audits[0].before == {"lockedUntil": (clock.now() + timedelta(minutes=15)).isoformat()}
    assert audits[0].after == {"lockedUntil": None}


# --- delegation ------------------------------------------------------------------------------------


async def delegation_setup(step: Step, tree: Tree) -> tuple[User, User, User, Actor]:
    """A school's administrator, a registrar (grantor) and a leader (grantee); the admin's actor."""
    admin = await seed_user(step, "school_a1", tree, "admin.a1", Role.SYSTEM_ADMINISTRATOR)
    grantor = await seed_user(step, "school_a1", tree, "reg.a1", Role.REGISTRAR)
    grantee = await seed_user(step, "school_a1", tree, "lead.a1", Role.LEADER)
    return admin, grantor, grantee, await actor(step, admin)


async def register(
    step: Step, admin_actor: Actor, grantor: User, grantee: User, clock: FixedClock, **window: timedelta
) -> Delegation:
    start = clock.now() + window.get("start", timedelta())
    async with step() as uow:
        return await register_delegation(
            uow,
            actor=admin_actor,
            grantor_id=grantor.id,
            grantee_id=grantee.id,
            starts_at=start,
            ends_at=start + window.get("length", timedelta(days=3)),
            reason="学籍管理员休假，由主管领导代为办理",
        )


async def delegated_token(step: Step, grantee_username: str, delegation: Delegation) -> str:
    own = await authenticated(step, (await signed_in(step, grantee_username)).token)
    async with step() as uow:
        token, _ = await start_delegated_session(uow, actor=own, delegation_id=delegation.id)
    return token


async def test_grantee_acts_as_the_grantor_and_every_action_is_attributed(
    step: Step, tree: Tree, clock: FixedClock
) -> None:
    # RULES: SEC-2
    admin, grantor, grantee, admin_actor = await delegation_setup(step, tree)

    delegation = await register(step, admin_actor, grantor, grantee, clock)
    token = await delegated_token(step, "lead.a1", delegation)
    acting = await authenticated(step, token)

    assert (acting.user_id, acting.username, acting.unit_id) == (grantor.id, "reg.a1", tree.school_a1.id)
    assert acting.roles == frozenset({Role.REGISTRAR})
    assert acting.delegate_id == grantee.id
    registered = await audit_rows(step, "delegation.registered")
    assert [(a.user_id, a.target_id) for a in registered] == [(admin.id, str(delegation.id))]
    started = await audit_rows(step, "delegation.session_started")
    assert [(a.user_id, a.delegate_id) for a in started] == [(grantee.id, None)]

    async with step() as uow:
        await sign_out(uow, actor=acting)

    signed_out = await audit_rows(step, "account.signed_out")
    assert [(a.user_id, a.delegate_id, a.role) for a in signed_out] == [
        (grantor.id, grantee.id, Role.REGISTRAR)
    ]
    assert (await refusal(step, lambda uow: authenticate(uow, token))).code == "UNAUTHENTICATED"


async def test_delegated_session_ends_with_the_delegation(step: Step, tree: Tree, clock: FixedClock) -> None:
    # RULES: SEC-2
    _, grantor, grantee, admin_actor = await delegation_setup(step, tree)
    delegation = await register(step, admin_actor, grantor, grantee, clock, length=timedelta(hours=1))
    token = await delegated_token(step, "lead.a1", delegation)

    async with step() as uow:
        row = await uow.session.scalar(select(AuthSession).where(AuthSession.delegation_id == delegation.id))
    assert row is not None
    assert row.expires_at == delegation.ends_at

    for _ in range(6):  # stay active for 54 minutes, then 5 more
        clock.advance(timedelta(minutes=9))
        await authenticated(step, token)
    clock.advance(timedelta(minutes=5))
    await authenticated(step, token)
    clock.advance(timedelta(minutes=1))
    assert (await refusal(step, lambda uow: authenticate(uow, token))).code == "SESSION_EXPIRED"


async def test_delegation_outside_its_window_is_inactive(step: Step, tree: Tree, clock: FixedClock) -> None:
    # RULES: SEC-2
    _, grantor, grantee, admin_actor = await delegation_setup(step, tree)
    delegation = await register(step, admin_actor, grantor, grantee, clock, start=timedelta(days=1))
    own = await authenticated(step, (await signed_in(step, "lead.a1")).token)

    error = await refusal(
        step, lambda uow: start_delegated_session(uow, actor=own, delegation_id=delegation.id)
    )

    assert (error.code, error.field) == ("DELEGATION_INACTIVE", "delegationId")
    async with step() as uow:
        assert await count_rows(uow.session, AuthSession, AuthSession.delegation_id.is_not(None)) == 0

    clock.advance(timedelta(days=1))
    assert (
        await authenticated(step, await delegated_token(step, "lead.a1", delegation))
    ).delegate_id == grantee.id

    clock.advance(timedelta(days=3))
    own = await authenticated(step, (await signed_in(step, "lead.a1")).token)
    error = await refusal(
        step, lambda uow: start_delegated_session(uow, actor=own, delegation_id=delegation.id)
    )
    assert error.code == "DELEGATION_INACTIVE"


async def test_only_the_grantee_may_use_a_delegation(step: Step, tree: Tree, clock: FixedClock) -> None:
    # RULES: SEC-2
    _, grantor, grantee, admin_actor = await delegation_setup(step, tree)
    delegation = await register(step, admin_actor, grantor, grantee, clock)
    as_grantor = await authenticated(step, (await signed_in(step, "reg.a1")).token)

    error = await refusal(
        step, lambda uow: start_delegated_session(uow, actor=as_grantor, delegation_id=delegation.id)
    )

    assert error.code == "NOT_FOUND"


async def test_revoking_a_delegation_ends_its_sessions_only(
    step: Step, tree: Tree, clock: FixedClock
) -> None:
    # RULES: SEC-2
    admin, grantor, grantee, admin_actor = await delegation_setup(step, tree)
    delegation = await register(step, admin_actor, grantor, grantee, clock)
    own_session = await signed_in(step, "lead.a1")
    token = await delegated_token(step, "lead.a1", delegation)

    async with step() as uow:
        await revoke_delegation(uow, actor=admin_actor, delegation_id=delegation.id)

    assert (await refusal(step, lambda uow: authenticate(uow, token))).code == "UNAUTHENTICATED"
    assert (await authenticated(step, own_session.token)).user_id == grantee.id
    async with step() as uow:
        stored = await uow.session.get(Delegation, delegation.id)
    assert stored is not None
    assert stored.revoked_at == clock.now()
    revoked = await audit_rows(step, "delegation.revoked")
    assert [(a.user_id, a.target_id) for a in revoked] == [(admin.id, str(delegation.id))]
    own = await authenticated(step, own_session.token)
    error = await refusal(
        step, lambda uow: start_delegated_session(uow, actor=own, delegation_id=delegation.id)
    )
    assert error.code == "DELEGATION_INACTIVE"


@pytest.mark.parametrize(
    ("length", "registered"),
    [
        pytest.param(timedelta(days=31), True, id="31-days"),
        pytest.param(timedelta(days=31, seconds=1), False, id="over-31-days"),
    ],
)
async def test_delegation_lasts_at_most_thirty_one_days(
    step: Step, tree: Tree, clock: FixedClock, length: timedelta, registered: bool
) -> None:
    # RULES: SEC-2
    _, grantor, grantee, admin_actor = await delegation_setup(step, tree)

    if registered:
        delegation = await register(step, admin_actor, grantor, grantee, clock, length=length)
        assert delegation.ends_at - delegation.starts_at == length
    else:
        error = await refusal(
            step,
            lambda uow: register_delegation(
                uow,
                actor=admin_actor,
                grantor_id=grantor.id,
                grantee_id=grantee.id,
                starts_at=clock.now(),
                ends_at=clock.now() + length,
                reason="休假",
            ),
        )
        assert (error.code, error.field) == ("DELEGATION_INVALID", "endsAt")
    async with step() as uow:
        assert await count_rows(uow.session, Delegation) == (1 if registered else 0)
        assert await count_rows(uow.session, AuditEntry) == (1 if registered else 0)


async def test_administrator_of_another_unit_cannot_register(
    step: Step, tree: Tree, clock: FixedClock
) -> None:
    # RULES: SEC-2, ORG-3
    _, grantor, grantee, _ = await delegation_setup(step, tree)
    outsider = await seed_user(step, "county_a", tree, "admin.ca", Role.SYSTEM_ADMINISTRATOR)
    outsider_actor = await actor(step, outsider)

    error = await refusal(
        step,
        lambda uow: register_delegation(
            uow,
            actor=outsider_actor,
            grantor_id=grantor.id,
            grantee_id=grantee.id,
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(days=1),
            reason="休假",
        ),
    )

    assert (error.code, error.field) == ("NOT_FOUND", "grantorId")
    async with step() as uow:
        assert await count_rows(uow.session, Delegation) == 0
        assert await count_rows(uow.session, AuditEntry) == 0


async def test_a_registrar_cannot_register_a_delegation(step: Step, tree: Tree, clock: FixedClock) -> None:
    # RULES: SEC-2
    _, grantor, grantee, _ = await delegation_setup(step, tree)
    as_grantor = await actor(step, grantor)

    error = await refusal(
        step,
        lambda uow: register_delegation(
            uow,
            actor=as_grantor,
            grantor_id=grantor.id,
            grantee_id=grantee.id,
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(days=1),
            reason="休假",
        ),
    )

    assert error.code == "FORBIDDEN"
    async with step() as uow:
        assert await count_rows(uow.session, Delegation) == 0


async def test_password_cannot_be_changed_under_a_delegation(
    step: Step, tree: Tree, clock: FixedClock
) -> None:
    # RULES: SEC-2, SEC-1
    _, grantor, grantee, admin_actor = await delegation_setup(step, tree)
    delegation = await register(step, admin_actor, grantor, grantee, clock)
    acting = await authenticated(step, await delegated_token(step, "lead.a1", delegation))

    error = await refusal(
        step,
        lambda uow: change_password(
            uow, actor=acting, current_password=PASSWORD, new_password="New#Secret42"
        ),
    )

    assert error.code == "INVALID_INPUT"
    await signed_in(step, "reg.a1", PASSWORD)
    assert (
        await authenticated(step, await delegated_token(step, "lead.a1", delegation))
    ).user_id == grantor.id


@pytest.mark.parametrize("why", ["must_change", "expired"])
async def test_grantee_who_must_change_its_password_cannot_act_for_another(
    step: Step, tree: Tree, clock: FixedClock, why: str
) -> None:
    # RULES: SEC-1, SEC-2 — a grantee who must change its own password (first sign-in with an
    # administrator-issued password, reset, or expiry) must not get past that by acting as the grantor.
    _, grantor, grantee, admin_actor = await delegation_setup(step, tree)
    async with step() as uow:
        stored = await uow.session.get(User, grantee.id)
        assert stored is not None
        if why == "must_change":
            stored.must_change_password = True
        else:
            stored.password_changed_at = clock.now() - timedelta(days=91)
    delegation = await register(step, admin_actor, grantor, grantee, clock)
    own = await authenticated(step, (await signed_in(step, "lead.a1")).token)
    assert own.password_change_required is True

    error = await refusal(
        step, lambda uow: start_delegated_session(uow, actor=own, delegation_id=delegation.id)
    )

    assert error.code == "PASSWORD_CHANGE_REQUIRED"
    async with step() as uow:
        assert await count_rows(uow.session, AuthSession, AuthSession.delegation_id.is_not(None)) == 0


async def test_grantee_password_expiring_during_a_delegated_session_blocks_it(
    step: Step, tree: Tree, clock: FixedClock
) -> None:
    # RULES: SEC-1, SEC-2
    _, grantor, grantee, admin_actor = await delegation_setup(step, tree)
    async with step() as uow:
        stored = await uow.session.get(User, grantee.id)
        assert stored is not None
        stored.password_changed_at = clock.now() - timedelta(days=90, minutes=-5)
    delegation = await register(step, admin_actor, grantor, grantee, clock)
    token = await delegated_token(step, "lead.a1", delegation)
    assert (await authenticated(step, token)).password_change_required is False

    clock.advance(timedelta(minutes=5))
    acting = await authenticated(step, token)

    assert (acting.user_id, acting.delegate_id) == (grantor.id, grantee.id)
    assert acting.password_change_required is True
    with pytest.raises(DomainError) as caught:
        authorize(acting, Operation.VIEW_UNITS)
    assert caught.value.code == "PASSWORD_CHANGE_REQUIRED"


@pytest.mark.parametrize(
    ("grantor_name", "grantee_name"),
    [
        pytest.param("reg.a1", "admin.a1", id="administrator-acting-as-registrar"),
        pytest.param("admin.a1", "reg.a1", id="registrar-acting-as-administrator"),
    ],
)
async def test_delegation_cannot_mix_configuration_and_business(
    step: Step, tree: Tree, clock: FixedClock, grantor_name: str, grantee_name: str
) -> None:
    # RULES: ORG-2, SEC-2 — a system administrator never performs business operations, and registrars
    # and leaders never configure, so no delegation may join the two in one person (not even one the
    # administrator registers for itself).
    admin, registrar, _, admin_actor = await delegation_setup(step, tree)
    users = {"admin.a1": admin, "reg.a1": registrar}

    error = await refusal(
        step,
        lambda uow: register_delegation(
            uow,
            actor=admin_actor,
            grantor_id=users[grantor_name].id,
            grantee_id=users[grantee_name].id,
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(days=1),
            reason="代为办理",
        ),
    )

    assert (error.code, error.field) == ("ROLE_CONFLICT", "granteeId")
    async with step() as uow:
        assert await count_rows(uow.session, Delegation) == 0
        assert await count_rows(uow.session, AuditEntry) == 0


# --- audit log (SEC-7) -----------------------------------------------------------------------------


async def audit_setup(step: Step, tree: Tree, clock: FixedClock) -> dict[str, User]:
    """Users across the tree, each signed in once a minute apart (one ``account.signed_in`` row each)."""
    plan = [
        ("lead.ca", "county_a", Role.LEADER),
        ("reg.a1", "school_a1", Role.REGISTRAR),
        ("admin.ca", "county_a", Role.SYSTEM_ADMINISTRATOR),
        ("reg.b1", "school_b1", Role.REGISTRAR),
        ("lead.c1", "school_c1", Role.LEADER),
        ("reg.ca", "county_a", Role.REGISTRAR),
        ("lead.a1", "school_a1", Role.LEADER),
        ("lead.p", "province", Role.LEADER),
    ]
    users = {}
    for username, unit, role in plan:
        users[username] = await seed_user(step, unit, tree, username, role)
    for username, _, _ in plan:
        clock.advance(timedelta(minutes=1))
        await signed_in(step, username)
    return users


async def read_log(step: Step, reader: Actor, spec: AuditFilter | None = None) -> list[AuditEntry]:
    async with step() as uow:
        page = await read_audit_log(
            uow.session, reader, spec or AuditFilter(), first=100, after=None, max_page=100
        )
    return page.items


async def test_county_leader_reads_only_its_subtrees_audit_rows_newest_first(
    step: Step, tree: Tree, clock: FixedClock
) -> None:
    # RULES: SEC-7, ORG-3
    users = await audit_setup(step, tree, clock)
    reader = await actor(step, users["lead.ca"])

    rows = await read_log(step, reader)

    assert [r.user_id for r in rows] == [
        users[name].id for name in ("lead.a1", "reg.ca", "admin.ca", "reg.a1", "lead.ca")
    ]
    assert all(r.unit_path.startswith(tree.county_a.path) for r in rows)
    assert [r.id for r in rows] == sorted((r.id for r in rows), reverse=True)
    assert [r.at for r in rows] == sorted((r.at for r in rows), reverse=True)
    everything = await audit_rows(step)
    outside = [r for r in everything if not r.unit_path.startswith(tree.county_a.path)]
    assert len(outside) == 3
    assert len(everything) == len(rows) + len(outside)


async def test_audit_log_filters_by_operation_user_and_unit(
    step: Step, tree: Tree, clock: FixedClock
) -> None:
    # RULES: SEC-7
    users = await audit_setup(step, tree, clock)
    admin_actor = await actor(step, users["admin.ca"])
    async with step() as uow:
        await create_user(
            uow,
            actor=admin_actor,
            username="zhang.wei",
            display_name="张伟",
            unit_id=tree.school_a2.id,
            roles=frozenset({Role.REGISTRAR}),
        )
    reader = await actor(step, users["lead.p"])

    created = await read_log(step, reader, AuditFilter(operation="user.created"))
    by_user = await read_log(step, reader, AuditFilter(user_id=users["reg.a1"].id))
    in_school = await read_log(step, reader, AuditFilter(unit_id=tree.school_a1.id))
    sign_ins = await read_log(step, reader, AuditFilter(operation="account.signed_in"))

    assert [(r.operation, r.user_id) for r in created] == [("user.created", users["admin.ca"].id)]
    assert [(r.operation, r.user_id) for r in by_user] == [("account.signed_in", users["reg.a1"].id)]
    assert {r.user_id for r in in_school} == {users["reg.a1"].id, users["lead.a1"].id}
    assert len(in_school) == 2
    assert len(sign_ins) == 8


async def test_audit_log_unit_outside_jurisdiction_looks_absent(
    step: Step, tree: Tree, clock: FixedClock
) -> None:
    # RULES: SEC-7, ORG-3
    users = await audit_setup(step, tree, clock)
    reader = await actor(step, users["lead.ca"])

    error = await refusal(
        step,
        lambda uow: read_audit_log(
            uow.session, reader, AuditFilter(unit_id=tree.school_b1.id), first=10, after=None, max_page=100
        ),
    )

    assert (error.code, error.field) == ("NOT_FOUND", "unitId")


@pytest.mark.parametrize(
    ("unit", "role"),
    [
        pytest.param("school_a1", Role.LEADER, id="school-leader"),
        pytest.param("county_a", Role.REGISTRAR, id="county-registrar"),
        pytest.param("county_a", Role.SYSTEM_ADMINISTRATOR, id="county-administrator"),
    ],
)
async def test_only_department_leaders_read_the_audit_log(
    step: Step, tree: Tree, unit: str, role: Role
) -> None:
    # RULES: SEC-7, ORG-2
    reader = await actor(step, await seed_user(step, unit, tree, "reader", role))

    error = await refusal(
        step,
        lambda uow: read_audit_log(uow.session, reader, AuditFilter(), first=10, after=None, max_page=100),
    )

    assert error.code == "FORBIDDEN"


async def test_deactivating_the_grantor_ends_delegated_sessions_for_good(
    step: Step, tree: Tree, clock: FixedClock
) -> None:  # RULES: SEC-2
    admin, grantor, grantee, admin_actor = await delegation_setup(step, tree)
    delegation = await register(step, admin_actor, grantor, grantee, clock)
    token = await delegated_token(step, "lead.a1", delegation)

    async with step() as uow:
        await update_user(uow, actor=admin_actor, user_id=grantor.id, is_active=False)
    async with step() as uow:
        await update_user(uow, actor=admin_actor, user_id=grantor.id, is_active=True)

    error = await refusal(step, lambda uow: authenticate(uow, token))
    assert error.code == "UNAUTHENTICATED"


def test_generated_initial_passwords_meet_the_policy_for_short_usernames() -> None:  # RULES: SEC-1
    for _ in range(300):
        check_password_policy(generate_initial_password("abc"), "abc")
