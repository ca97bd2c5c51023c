"""Errors of the working-day calendar."""

from __future__ import annotations

from backend.domain.errors import DomainError


class CalendarYearUnknownError(DomainError):
    """A date falls in a year nobody has entered: deadlines there cannot be computed, never guessed."""

    code = "CALENDAR_YEAR_UNKNOWN"
    message = "缺少节假日安排，请系统管理员导入国务院通知"

    def __init__(self, year: int) -> None:
        super().__init__(f"缺少{year}年的节假日安排，请系统管理员导入国务院通知")
        self.year = year
