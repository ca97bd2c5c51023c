"""A user's own delivery preferences: which kinds also arrive by email or SMS, quiet hours, the digest.

In-app notifications always arrive; preferences only decide what goes out besides. A kind the user never
set follows ``DEFAULT_CHANNELS`` (a step waiting on you and a decision on your request by email, a login
reminder (MON-1) by email and SMS, everything else in-app only), so a new kind needs no data migration.
Quiet hours are Asia/Shanghai wall-clock times and may wrap midnight (``23:00``–``07:00``): a message
routed inside them waits in the outbox until they end. With the daily digest, individual emails stop and
one mail the next morning lists the day's notifications; SMS still go out one by one.

Each user reads and sets only their own preferences (``VIEW_OWN_ACCOUNT``); every change is audited.
A delegate (SEC-2) may read but not change the grantor's: where someone's mail goes is theirs to decide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import SHANGHAI, local
from backend.db import UnitOfWork
from backend.domain.actor import Actor
from backend.domain.audit.service import record_audit
from backend.domain.errors import ValidationError
from backend.domain.notifications.log import NotificationKind
from backend.domain.permissions import Operation, authorize
from backend.models import NotificationPreference
from backend.notifications.outbox import dialect_insert

EMAIL = "EMAIL"
SMS = "SMS"
CHANNELS = (EMAIL, SMS)
KINDS = tuple(str(kind) for kind in NotificationKind)
DEFAULT_CHANNELS: dict[str, tuple[str, ...]] = {
    NotificationKind.STEP_PENDING: (EMAIL,),
    NotificationKind.DECIDED: (EMAIL,),
    NotificationKind.LOGIN_REMINDER: (EMAIL, SMS),
}
HHMM = re.compile(r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$")


class UnknownNotificationKindError(ValidationError):
    code = "UNKNOWN_NOTIFICATION_KIND"
    message = "未知的通知类型"


class DuplicateNotificationKindError(ValidationError):
    code = "DUPLICATE_NOTIFICATION_KIND"
    message = "同一通知类型只能设置一次"


class UnknownChannelError(ValidationError):
    code = "UNKNOWN_CHANNEL"
    message = "通知渠道只能是 EMAIL（邮件）或 SMS（短信）"


class InvalidQuietHoursError(ValidationError):
    code = "INVALID_QUIET_HOURS"
    message = "免打扰时间须为“时:分”格式，如 22:30"


def channels_for(overrides: Mapping[str, Any] | None, kind: str) -> tuple[str, ...]:
    """The channels ``kind`` goes out by: the user's choice, else the default (stored JSON is re-checked)."""
    chosen = (overrides or {}).get(kind)
    if isinstance(chosen, list):
        return tuple(channel for channel in CHANNELS if channel in chosen)
    return DEFAULT_CHANNELS.get(kind, ())


def parse_hhmm(text: str | None) -> time | None:
    if text is None or not HHMM.match(text):
        return None
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def quiet_until(now: datetime, quiet_start: str | None, quiet_end: str | None) -> datetime | None:
    """When the quiet period ``now`` falls in ends (UTC), or ``None`` outside quiet hours."""
    start, end = parse_hhmm(quiet_start), parse_hhmm(quiet_end)
    if start is None or end is None or start == end:
        return None
    here = local(now)
    clock_time = here.time()
    if start < end:
        if not start <= clock_time < end:
            return None
        day = here.date()
    else:  # wraps midnight: 23:00–07:00
        if end <= clock_time < start:
            return None
        day = here.date() + timedelta(days=1) if clock_time >= start else here.date()
    return datetime.combine(day, end, tzinfo=SHANGHAI).astimezone(UTC)


@dataclass(frozen=True)
class Preferences:
    """A user's effective preferences: ``overrides`` are the kinds set explicitly."""

    overrides: dict[str, tuple[str, ...]]
    quiet_start: str | None = None
    quiet_end: str | None = None
    daily_digest: bool = False

    @classmethod
    def from_row(cls, row: NotificationPreference | None) -> Preferences:
        if row is None:
            return cls(overrides={})
        stored = row.channels or {}
        return cls(
            overrides={kind: channels_for(stored, kind) for kind in KINDS if kind in stored},
            quiet_start=row.quiet_start,
            quiet_end=row.quiet_end,
            daily_digest=row.daily_digest,
        )

    def channels(self, kind: str) -> tuple[str, ...]:
        return self.overrides.get(kind, DEFAULT_CHANNELS.get(kind, ()))

    def snapshot(self) -> dict[str, Any]:
        """For the audit row."""
        return {
            "channels": {kind: list(channels) for kind, channels in sorted(self.overrides.items())},
            "quietStart": self.quiet_start,
            "quietEnd": self.quiet_end,
            "dailyDigest": self.daily_digest,
        }


async def preferences_of(session: AsyncSession, actor: Actor) -> Preferences:
    """The caller's own preferences, defaults filled in."""
    authorize(actor, Operation.VIEW_OWN_ACCOUNT)
    row = await session.get(NotificationPreference, actor.user_id)
    return Preferences.from_row(row)


def _check_channels(channels: Sequence[tuple[str, Sequence[str]]]) -> dict[str, tuple[str, ...]]:
    chosen: dict[str, tuple[str, ...]] = {}
    for kind, kind_channels in channels:
        if kind not in KINDS:
            raise UnknownNotificationKindError(f"未知的通知类型：{kind[:40]}", field="channels")
        if kind in chosen:
            raise DuplicateNotificationKindError(field="channels")
        unknown = [channel for channel in kind_channels if channel not in CHANNELS]
        if unknown:
            raise UnknownChannelError(field="channels")
        chosen[kind] = tuple(channel for channel in CHANNELS if channel in kind_channels)
    return chosen


def _check_quiet_hours(quiet_start: str | None, quiet_end: str | None) -> tuple[str | None, str | None]:
    start = (quiet_start or "").strip() or None
    end = (quiet_end or "").strip() or None
    for value, field in ((start, "quietStart"), (end, "quietEnd")):
        if value is not None and parse_hhmm(value) is None:
            raise InvalidQuietHoursError(field=field)
    if (start is None) != (end is None):
        raise InvalidQuietHoursError(
            "免打扰须同时填写开始和结束时间", field="quietEnd" if end is None else "quietStart"
        )
    if start is not None and start == end:
        raise InvalidQuietHoursError("免打扰的开始和结束时间不能相同", field="quietEnd")
    return start, end


async def set_preferences(
    uow: UnitOfWork,
    *,
    actor: Actor,
    channels: Sequence[tuple[str, Sequence[str]]],
    quiet_start: str | None,
    quiet_end: str | None,
    daily_digest: bool,
) -> Preferences:
    """Replace the caller's own preferences; kinds not listed follow the defaults. Audited."""
    authorize(actor, Operation.VIEW_OWN_ACCOUNT)
    if actor.delegate_id is not None:
        raise ValidationError("委托登录不能修改被委托人的通知设置")
    chosen = _check_channels(channels)
    start, end = _check_quiet_hours(quiet_start, quiet_end)
    before = Preferences.from_row(await uow.session.get(NotificationPreference, actor.user_id))
    values = {
        "channels": {kind: list(kind_channels) for kind, kind_channels in chosen.items()},
        "quiet_start": start,
        "quiet_end": end,
        "daily_digest": daily_digest,
        "updated_at": uow.clock.now(),
    }
    # One statement whether or not the row exists, so two first saves at once cannot collide.
    stmt = dialect_insert(uow.session)(NotificationPreference).values(user_id=actor.user_id, **values)
    await uow.session.execute(
        stmt.on_conflict_do_update(index_elements=["user_id"], set_=values).execution_options(
            synchronize_session=False
        )
    )
    after = Preferences(overrides=chosen, quiet_start=start, quiet_end=end, daily_digest=daily_digest)
    await record_audit(
        uow,
        actor=actor,
        operation="notification_preferences.updated",
        target_type="user",
        target_id=actor.user_id,
        before=before.snapshot(),
        after=after.snapshot(),
    )
    return after
