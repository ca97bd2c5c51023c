"""Sign-in, sessions, passwords and account administration (ORG-2, SEC-1, SEC-2, IME-5).

Sessions are opaque random tokens; the database keeps only their SHA-256. A session ends on sign-out,
password change, after ``idle_timeout_minutes`` without a request, or ``session_max_hours`` after sign-in.
Five wrong passwords lock an account for fifteen minutes; the counter is a single atomic UPDATE, so
parallel attempts (aliases in one request, several processes) all count.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.db import UnitOfWork
from backend.domain.accounts import repository as repo
from backend.domain.accounts.errors import (
    AccountLockedError,
    DelegationInactiveError,
    DelegationInvalidError,
    InvalidCredentialsError,
    InvalidUsernameError,
    RoleConflictError,
    SelfModificationError,
    SessionExpiredError,
    UsernameTakenError,
    WrongCurrentPasswordError,
)
from backend.domain.accounts.events import sessions_changed
from backend.domain.accounts.passwords import (
    check_not_reused,
    check_password_policy,
    hash_password,
    hash_password_sync,
    verify_password,
)
from backend.domain.actor import Actor, SystemActor
from backend.domain.audit.service import record_audit
from backend.domain.errors import NotFoundError, UnauthenticatedError, ValidationError
from backend.domain.permissions import Operation, PasswordChangeRequiredError, authorize
from backend.models import AuthSession, Delegation, PasswordHistory, SignInEvent, Unit, User, UserRole
from backend.models.enums import Role
from backend.notifications.issuance import send_initial_credentials

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
BUSINESS_ROLES = frozenset({Role.REGISTRAR, Role.LEADER})
LAST_SEEN_GRANULARITY = timedelta(seconds=30)
MAX_DELEGATION = timedelta(days=31)


@lru_cache(maxsize=4)
def _dummy_hash_for(time_cost: int, memory_kib: int) -> str:
    return hash_password_sync(secrets.token_urlsafe(16), time_cost, memory_kib)


def _dummy_hash(settings: Settings) -> str:
    return _dummy_hash_for(settings.argon2_time_cost, settings.argon2_memory_kib)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_username(username: str) -> str:
    return username.strip().lower()


@dataclass(frozen=True)
class SignedIn:
    token: str
    user: User
    expires_at: datetime
    password_change_required: bool


@dataclass(frozen=True)
class SignInRefused:
    error: InvalidCredentialsError | AccountLockedError


def password_expires_at(user: User, settings: Settings) -> datetime:
    """Passwords are changed periodically (SEC-1): this one must be changed from this moment on."""
    return user.password_changed_at + timedelta(days=settings.password_expiry_days)


def password_expired(user: User, settings: Settings, now: datetime) -> bool:
    return password_expires_at(user, settings) <= now


def _must_change(user: User, settings: Settings, now: datetime) -> bool:
    return user.must_change_password or password_expired(user, settings, now)


async def _open_session(
    uow: UnitOfWork,
    user: User,
    *,
    ip: str | None,
    user_agent: str | None,
    delegation_id: int | None = None,
    ends_by: datetime | None = None,
) -> tuple[str, AuthSession]:
    now = uow.clock.now()
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(hours=uow.settings.session_max_hours)
    if ends_by is not None:
        expires_at = min(expires_at, ends_by)
    row = AuthSession(
        token_hash=hash_token(token),
        user_id=user.id,
        delegation_id=delegation_id,
        created_at=now,
        last_seen_at=now,
        expires_at=expires_at,
        ip=ip,
        user_agent=(user_agent or "")[:255] or None,
    )
    uow.session.add(row)
    await uow.session.flush()
    return token, row


async def sign_in(
    uow: UnitOfWork,
    *,
    username: str,
    password: str,
    ip: str | None = None,
    user_agent: str | None = None,
) -> SignedIn | SignInRefused:
    """Check a password and open a session; every attempt is logged (SEC-1, MON-1).

    Refusals are returned, not raised, because the failure itself (counter, lock, log row) must commit.
    """
    now = uow.clock.now()
    name = normalise_username(username)[:64]
    user = await repo.find_user_by_username(uow.session, name)
    attempt = SignInEvent(
        at=now,
        username=name,
        user_id=user.id if user else None,
        unit_id=user.unit_id if user else None,
        success=False,
        ip=ip,
        user_agent=(user_agent or "")[:255] or None,
    )
    if user is None or not user.is_active:
        # Spend the same time as a real check, so response times do not reveal user names.
        await verify_password(_dummy_hash(uow.settings), password)
        _log_attempt(uow, attempt, "UNKNOWN_USER" if user is None else "DISABLED")
        return SignInRefused(InvalidCredentialsError())
    if user.locked_until is not None and user.locked_until > now:
        _log_attempt(uow, attempt, "LOCKED")
        return SignInRefused(AccountLockedError(user.locked_until))
    if not await verify_password(user.password_hash, password):
        return await _count_failure(uow, user, now, attempt)

    user.failed_attempts = 0
    user.locked_until = None
    user.last_sign_in_at = now
    attempt.success = True
    _log_attempt(uow, attempt, "OK")
    token, row = await _open_session(uow, user, ip=ip, user_agent=user_agent)
    await record_audit(
        uow,
        actor=await actor_for(uow.session, user, ip=ip),
        operation="account.signed_in",
        target_type="user",
        target_id=user.id,
        after={"session": row.id},
    )
    return SignedIn(token, user, row.expires_at, _must_change(user, uow.settings, now))


def _log_attempt(uow: UnitOfWork, attempt: SignInEvent, reason: str) -> None:
    attempt.reason = reason
    uow.session.add(attempt)


async def _count_failure(uow: UnitOfWork, user: User, now: datetime, attempt: SignInEvent) -> SignInRefused:
    """Count a wrong password atomically; the fifth in a row locks the account (SEC-1)."""
    failures = await uow.session.scalar(
        update(User)
        .where(User.id == user.id)
        .values(failed_attempts=User.failed_attempts + 1)
        .returning(User.failed_attempts)
    )
    if failures is not None and failures >= uow.settings.lockout_threshold:
        until = now + timedelta(minutes=uow.settings.lockout_minutes)
        await uow.session.execute(
            update(User).where(User.id == user.id).values(locked_until=until, failed_attempts=0)
        )
        _log_attempt(uow, attempt, "LOCKED_NOW")
        return SignInRefused(AccountLockedError(until))
    _log_attempt(uow, attempt, "WRONG_PASSWORD")
    return SignInRefused(InvalidCredentialsError())


async def actor_for(
    session: AsyncSession,
    user: User,
    *,
    session_id: int | None = None,
    ip: str | None = None,
    delegate_id: int | None = None,
    password_change_required: bool = False,
) -> Actor:
    unit = await session.get(Unit, user.unit_id)
    if unit is None:  # pragma: no cover - the foreign key forbids it
        raise NotFoundError()
    return Actor(
        user_id=user.id,
        username=user.username,
        unit_id=unit.id,
        unit_path=unit.path,
        unit_kind=unit.kind,
        roles=await repo.roles_of(session, user.id),
        session_id=session_id,
        delegate_id=delegate_id,
        ip=ip,
        password_change_required=password_change_required,
    )


@dataclass(frozen=True)
class ResolvedSession:
    """A valid session: who acts, who is really signed in, and whether ``last_seen_at`` is stale."""

    actor: Actor
    person: User
    unit: Unit
    needs_touch: bool
    expires_at: datetime
    last_seen_at: datetime

    def still_valid(self, now: datetime, settings: Settings) -> bool:
        """Whether a cached resolution may answer for ``now`` without asking the database again.

        Not once the session expired, went idle, or its activity is due to be recorded.
        """
        return now < self.expires_at and now - self.last_seen_at < min(
            LAST_SEEN_GRANULARITY, timedelta(minutes=settings.idle_timeout_minutes)
        )


async def resolve_session(
    session: AsyncSession, token: str, *, now: datetime, settings: Settings, ip: str | None = None
) -> ResolvedSession:
    """Resolve a bearer token, enforcing expiry and the idle timeout (SEC-1), without writing.

    One statement for an ordinary session. Expiry is decided here on every request, so an expired
    session needs no write. A session used under a delegation (SEC-2) acts as the grantor, attributed
    to the grantee, and only while the delegation is in force.
    """
    found = await repo.session_by_token_hash(session, hash_token(token))
    if found is None or found.session.revoked_at is not None:
        raise UnauthenticatedError()
    auth, user, unit = found.session, found.user, found.unit
    idle_limit = auth.last_seen_at + timedelta(minutes=settings.idle_timeout_minutes)
    if auth.expires_at <= now or idle_limit <= now or not user.is_active:
        raise SessionExpiredError()
    needs_touch = now - auth.last_seen_at >= LAST_SEEN_GRANULARITY
    if auth.delegation_id is not None:
        actor, acting_unit = await _delegated_actor(session, auth, user, now, settings, ip)
        return ResolvedSession(actor, user, acting_unit, needs_touch, auth.expires_at, auth.last_seen_at)
    actor = Actor(
        user_id=user.id,
        username=user.username,
        unit_id=unit.id,
        unit_path=unit.path,
        unit_kind=unit.kind,
        roles=found.roles,
        session_id=auth.id,
        ip=ip,
        password_change_required=_must_change(user, settings, now),
    )
    return ResolvedSession(actor, user, unit, needs_touch, auth.expires_at, auth.last_seen_at)


async def touch_session(uow: UnitOfWork, session_id: int) -> None:
    """Record activity for the idle timeout (at most every ``LAST_SEEN_GRANULARITY``)."""
    await uow.session.execute(
        update(AuthSession).where(AuthSession.id == session_id).values(last_seen_at=uow.clock.now())
    )


async def authenticate(uow: UnitOfWork, token: str, *, ip: str | None = None) -> Actor:
    """Resolve a bearer token to the acting user and record the activity, in one unit of work."""
    resolved = await resolve_session(uow.session, token, now=uow.clock.now(), settings=uow.settings, ip=ip)
    if resolved.needs_touch and resolved.actor.session_id is not None:
        await touch_session(uow, resolved.actor.session_id)
    return resolved.actor


async def _delegated_actor(
    session: AsyncSession, auth: AuthSession, grantee: User, now: datetime, settings: Settings, ip: str | None
) -> tuple[Actor, Unit]:
    delegation = await repo.get_delegation(session, auth.delegation_id or 0)
    if delegation is None or not _delegation_active(delegation, now):
        raise SessionExpiredError()
    grantor = await session.get(User, delegation.grantor_id)
    if grantor is None or not grantor.is_active:
        raise SessionExpiredError()
    # The grantee's own duty to change its password is not lifted by acting for someone else.
    actor = await actor_for(
        session,
        grantor,
        session_id=auth.id,
        ip=ip,
        delegate_id=grantee.id,
        password_change_required=_must_change(grantee, settings, now),
    )
    unit = await session.get(Unit, grantor.unit_id)
    assert unit is not None
    return actor, unit


async def _end_sessions(
    uow: UnitOfWork, user_id: int, *, delegation_id: int | None = None, acting_for: bool = False
) -> None:
    """Revoke sessions and tell every server process to forget what it cached about them."""
    await repo.revoke_sessions(
        uow.session, user_id, uow.clock.now(), delegation_id=delegation_id, acting_for=acting_for
    )
    sessions_changed(uow, user_id)


async def sign_out(uow: UnitOfWork, *, actor: Actor) -> None:
    authorize(actor, Operation.VIEW_OWN_ACCOUNT)
    if actor.session_id is None:
        raise UnauthenticatedError()
    await uow.session.execute(
        update(AuthSession)
        .where(AuthSession.id == actor.session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=uow.clock.now())
    )
    sessions_changed(uow, actor.delegate_id or actor.user_id)
    await record_audit(
        uow,
        actor=actor,
        operation="account.signed_out",
        target_type="session",
        target_id=actor.session_id,
    )


async def change_password(
    uow: UnitOfWork,
    *,
    actor: Actor,
    current_password: str,
    new_password: str,
    user_agent: str | None = None,
) -> SignedIn:
    """Change the actor's own password and replace all its sessions with a fresh one (SEC-1).

    Not available under a delegation: a delegate never learns or sets the grantor's password.
    """
    authorize(actor, Operation.VIEW_OWN_ACCOUNT)
    if actor.delegate_id is not None:
        raise ValidationError("委托登录不能修改被委托人的密码")
    user = await uow.session.get(User, actor.user_id)
    if user is None:
        raise UnauthenticatedError()
    if not await verify_password(user.password_hash, current_password):
        raise WrongCurrentPasswordError(field="currentPassword")
    check_password_policy(new_password, user.username, field="newPassword")
    recent = [
        user.password_hash,
        *await repo.recent_password_hashes(uow.session, user.id, uow.settings.password_history - 1),
    ]
    await check_not_reused(new_password, recent, field="newPassword")
    now = uow.clock.now()
    uow.session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash, created_at=now))
    user.password_hash = await hash_password(
        new_password, uow.settings.argon2_time_cost, uow.settings.argon2_memory_kib
    )
    user.password_changed_at = now
    user.must_change_password = False
    user.updated_at = now
    await _prune_history(uow, user.id)
    await _end_sessions(uow, user.id)
    token, row = await _open_session(uow, user, ip=actor.ip, user_agent=user_agent)
    await record_audit(
        uow,
        actor=actor,
        operation="account.password_changed",
        target_type="user",
        target_id=user.id,
    )
    return SignedIn(token, user, row.expires_at, False)


async def _prune_history(uow: UnitOfWork, user_id: int) -> None:
    keep = (
        select(PasswordHistory.id)
        .where(PasswordHistory.user_id == user_id)
        .order_by(PasswordHistory.id.desc())
        .limit(uow.settings.password_history)
    )
    await uow.session.execute(
        delete(PasswordHistory).where(
            PasswordHistory.user_id == user_id, PasswordHistory.id.not_in(keep.scalar_subquery())
        )
    )


# --- administration ------------------------------------------------------------------------------


def check_roles(roles: frozenset[Role]) -> None:
    if not roles:
        raise ValidationError("至少选择一个角色", field="roles")
    if Role.SYSTEM_ADMINISTRATOR in roles and not roles.isdisjoint(BUSINESS_ROLES):
        raise RoleConflictError(field="roles")


def generate_initial_password(username: str) -> str:
    """A random password that satisfies the policy for ``username``; shown once, changed at first sign-in."""
    alphabet = string.ascii_letters + string.digits
    while True:
        body = "".join(secrets.choice(alphabet) for _ in range(10))
        candidate = body + secrets.choice("!@#$%^&*") + secrets.choice(string.digits)
        try:
            check_password_policy(candidate, username)
        except ValidationError:
            continue
        return candidate


@dataclass(frozen=True)
class IssuedAccount:
    user: User
    initial_password: str


def _user_snapshot(user: User, roles: frozenset[Role] | list[Role]) -> dict[str, object]:
    return {
        "username": user.username,
        "displayName": user.display_name,
        "unitId": user.unit_id,
        "phone": user.phone,
        "email": user.email,
        "isActive": user.is_active,
        "roles": sorted(str(r) for r in roles),
    }


async def create_user(
    uow: UnitOfWork,
    *,
    actor: Actor | SystemActor,
    username: str,
    display_name: str,
    unit_id: int,
    roles: frozenset[Role],
    phone: str | None = None,
    email: str | None = None,
    initial_password: str | None = None,
) -> IssuedAccount:
    """Create an account in a unit within the actor's jurisdiction (IME-5, IME-6).

    The initial password is random (or the operator's, from the CLI) and must be changed at first
    sign-in.
    """
    from backend.domain.units.repository import get_unit

    authorize(actor, Operation.MANAGE_USERS)
    unit = await get_unit(uow.session, unit_id)
    if unit is None:
        raise NotFoundError(field="unitId")
    authorize(actor, Operation.MANAGE_USERS, unit.path)
    name = normalise_username(username)
    if not USERNAME_RE.match(name):
        raise InvalidUsernameError(field="username")
    display = display_name.strip()
    if not display or len(display) > 100:
        raise ValidationError("姓名不能为空且不超过100字", field="displayName")
    check_roles(roles)
    if await repo.find_user_by_username(uow.session, name) is not None:
        raise UsernameTakenError(field="username")
    if initial_password is not None:
        check_password_policy(initial_password, name, field="password")
    now = uow.clock.now()
    password = initial_password or generate_initial_password(name)
    user = User(
        username=name,
        display_name=display,
        unit_id=unit.id,
        phone=_clean(phone),
        email=_clean(email),
        password_hash=await hash_password(
            password, uow.settings.argon2_time_cost, uow.settings.argon2_memory_kib
        ),
        password_changed_at=now,
        must_change_password=True,
        failed_attempts=0,
        is_active=True,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(user)
    await uow.session.flush()
    await uow.session.execute(insert(UserRole), [{"user_id": user.id, "role": r} for r in roles])
    await record_audit(
        uow,
        actor=actor,
        operation="user.created",
        target_type="user",
        target_id=user.id,
        after=_user_snapshot(user, roles),
        scope_path=unit.path,
    )
    await send_initial_credentials(uow, user, password, reset=False)  # IME-6
    return IssuedAccount(user, password)


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


async def _managed_user(uow: UnitOfWork, actor: Actor, user_id: int) -> User:
    """A user the actor administers; absent and out-of-jurisdiction look the same."""
    authorize(actor, Operation.MANAGE_USERS)
    found = await repo.get_user_with_unit(uow.session, user_id)
    if found is None:
        raise NotFoundError(field="userId")
    authorize(actor, Operation.MANAGE_USERS, found[1].path)
    return found[0]


async def update_user(
    uow: UnitOfWork,
    *,
    actor: Actor,
    user_id: int,
    display_name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    roles: frozenset[Role] | None = None,
    is_active: bool | None = None,
) -> User:
    user = await _managed_user(uow, actor, user_id)
    old_roles = await repo.roles_of(uow.session, user.id)
    before = _user_snapshot(user, old_roles)
    if user.id == actor.user_id and (roles is not None or is_active is False):
        raise SelfModificationError(field="roles" if roles is not None else "isActive")
    now = uow.clock.now()
    if display_name is not None:
        display = display_name.strip()
        if not display or len(display) > 100:
            raise ValidationError("姓名不能为空且不超过100字", field="displayName")
        user.display_name = display
    if phone is not None:
        user.phone = _clean(phone)
    if email is not None:
        user.email = _clean(email)
    new_roles = old_roles
    if roles is not None and roles != old_roles:
        check_roles(roles)
        await uow.session.execute(delete(UserRole).where(UserRole.user_id == user.id))
        await uow.session.execute(insert(UserRole), [{"user_id": user.id, "role": r} for r in roles])
        new_roles = roles
        await _end_sessions(uow, user.id, acting_for=True)
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        if not is_active:
            await _end_sessions(uow, user.id, acting_for=True)
    user.updated_at = now
    await record_audit(
        uow,
        actor=actor,
        operation="user.updated",
        target_type="user",
        target_id=user.id,
        before=before,
        after=_user_snapshot(user, new_roles),
    )
    return user


async def reset_password(uow: UnitOfWork, *, actor: Actor, user_id: int) -> IssuedAccount:
    """Issue a new random password, unlock the account and end its sessions."""
    user = await _managed_user(uow, actor, user_id)
    now = uow.clock.now()
    password = generate_initial_password(user.username)
    uow.session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash, created_at=now))
    user.password_hash = await hash_password(
        password, uow.settings.argon2_time_cost, uow.settings.argon2_memory_kib
    )
    user.password_changed_at = now
    user.must_change_password = True
    user.failed_attempts = 0
    user.locked_until = None
    user.updated_at = now
    await _prune_history(uow, user.id)
    await _end_sessions(uow, user.id)
    await record_audit(
        uow, actor=actor, operation="user.password_reset", target_type="user", target_id=user.id
    )
    await send_initial_credentials(uow, user, password, reset=True)  # IME-6
    return IssuedAccount(user, password)


async def unlock_user(uow: UnitOfWork, *, actor: Actor, user_id: int) -> User:
    user = await _managed_user(uow, actor, user_id)
    before = {"lockedUntil": user.locked_until.isoformat() if user.locked_until else None}
    user.locked_until = None
    user.failed_attempts = 0
    user.updated_at = uow.clock.now()
    await record_audit(
        uow,
        actor=actor,
        operation="user.unlocked",
        target_type="user",
        target_id=user.id,
        before=before,
        after={"lockedUntil": None},
    )
    return user


# --- delegation (SEC-2) --------------------------------------------------------------------------


def _delegation_active(delegation: Delegation, now: datetime) -> bool:
    return delegation.revoked_at is None and delegation.starts_at <= now < delegation.ends_at


async def register_delegation(
    uow: UnitOfWork,
    *,
    actor: Actor,
    grantor_id: int,
    grantee_id: int,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
) -> Delegation:
    """Register a time-limited delegation between two users of the administrator's unit (SEC-2).

    Replaces lending a password: the grantee signs in as itself and acts in the grantor's capacity,
    and every action is attributed to the grantee.
    """
    authorize(actor, Operation.MANAGE_DELEGATIONS)
    now = uow.clock.now()
    grantor = await _user_in_own_unit(uow, actor, grantor_id, "grantorId")
    grantee = await _user_in_own_unit(uow, actor, grantee_id, "granteeId")
    if grantor.id == grantee.id:
        raise DelegationInvalidError("委托人与受托人不能相同", field="granteeId")
    if not grantor.is_active or not grantee.is_active:
        raise DelegationInvalidError("委托人或受托人账号已停用", field="grantorId")
    combined = await repo.roles_of(uow.session, grantor.id) | await repo.roles_of(uow.session, grantee.id)
    if Role.SYSTEM_ADMINISTRATOR in combined and not combined.isdisjoint(BUSINESS_ROLES):
        # ORG-2: a delegation must not let configuration and business meet in one person.
        raise RoleConflictError("系统管理员与学籍管理员、学籍主管领导之间不能相互委托", field="granteeId")
    if ends_at <= starts_at or ends_at <= now:
        raise DelegationInvalidError("委托结束时间须晚于开始时间和当前时间", field="endsAt")
    if ends_at - starts_at > MAX_DELEGATION:
        raise DelegationInvalidError("委托期限不能超过31天", field="endsAt")
    text = reason.strip()
    if not text or len(text) > 500:
        raise ValidationError("须填写委托事由（不超过500字）", field="reason")
    delegation = Delegation(
        grantor_id=grantor.id,
        grantee_id=grantee.id,
        registered_by_id=actor.user_id,
        unit_id=actor.unit_id,
        reason=text,
        starts_at=starts_at,
        ends_at=ends_at,
        created_at=now,
    )
    uow.session.add(delegation)
    await uow.session.flush()
    await record_audit(
        uow,
        actor=actor,
        operation="delegation.registered",
        target_type="delegation",
        target_id=delegation.id,
        after={
            "grantorId": grantor.id,
            "granteeId": grantee.id,
            "startsAt": starts_at.isoformat(),
            "endsAt": ends_at.isoformat(),
            "reason": text,
        },
    )
    return delegation


async def _user_in_own_unit(uow: UnitOfWork, actor: Actor, user_id: int, field: str) -> User:
    user = await uow.session.get(User, user_id)
    if user is None or user.unit_id != actor.unit_id:
        raise NotFoundError(field=field)
    return user


async def revoke_delegation(uow: UnitOfWork, *, actor: Actor, delegation_id: int) -> Delegation:
    authorize(actor, Operation.MANAGE_DELEGATIONS)
    delegation = await repo.get_delegation(uow.session, delegation_id)
    if delegation is None or delegation.unit_id != actor.unit_id:
        raise NotFoundError(field="delegationId")
    now = uow.clock.now()
    if delegation.revoked_at is None:
        delegation.revoked_at = now
        await _end_sessions(uow, delegation.grantee_id, delegation_id=delegation.id)
        await record_audit(
            uow,
            actor=actor,
            operation="delegation.revoked",
            target_type="delegation",
            target_id=delegation.id,
        )
    return delegation


async def start_delegated_session(
    uow: UnitOfWork, *, actor: Actor, delegation_id: int, user_agent: str | None = None
) -> tuple[str, AuthSession]:
    """Open a session in which the grantee acts for the grantor, ending when the delegation ends."""
    authorize(actor, Operation.VIEW_OWN_ACCOUNT)
    if actor.password_change_required:
        raise PasswordChangeRequiredError()
    delegation = await repo.get_delegation(uow.session, delegation_id)
    if delegation is None or delegation.grantee_id != actor.user_id or actor.delegate_id:
        raise NotFoundError(field="delegationId")
    now = uow.clock.now()
    if not _delegation_active(delegation, now):
        raise DelegationInactiveError(field="delegationId")
    grantee = await uow.session.get(User, actor.user_id)
    assert grantee is not None
    token, row = await _open_session(
        uow,
        grantee,
        ip=actor.ip,
        user_agent=user_agent,
        delegation_id=delegation.id,
        ends_by=delegation.ends_at,
    )
    await record_audit(
        uow,
        actor=actor,
        operation="delegation.session_started",
        target_type="delegation",
        target_id=delegation.id,
        after={"session": row.id},
    )
    return token, row
