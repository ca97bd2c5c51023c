"""The one clock every rule reads "now" from.

Deadlines, lockouts, idle timeouts and business windows all depend on the time, so nothing in the
domain calls ``datetime.now()``: it asks a ``Clock``. Tests and demos inject a ``FixedClock`` and move it.
The database stores UTC; people see Asia/Shanghai (``SHANGHAI``), converted only at the edges.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current instant as an aware UTC datetime."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved; for tests, demos and replaying a day."""

    def __init__(self, at: datetime) -> None:
        self._at = as_utc(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = as_utc(at)

    def advance(self, delta: timedelta) -> None:
        self._at += delta


def as_utc(moment: datetime) -> datetime:
    """Normalise an aware datetime to UTC; naive datetimes are refused, never guessed."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: attach a time zone")
    return moment.astimezone(UTC)


def from_db(moment: datetime | None) -> datetime | None:
    """Read a stored timestamp as aware UTC (SQLite hands back naive values)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def local(moment: datetime) -> datetime:
    """The same instant in Asia/Shanghai, for display and for local-date rules."""
    return as_utc(moment).astimezone(SHANGHAI)


def local_today(clock: Clock) -> date:
    """Today's date in Asia/Shanghai."""
    return local(clock.now()).date()


def shanghai(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An Asia/Shanghai wall-clock time as aware UTC; convenient for rules stated in local time."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)
