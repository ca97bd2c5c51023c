"""Business windows (业务时间, CFG-2): when a province opens a registration menu, with no I/O.

A window is a ``{"from": …, "to": …}`` pair of local (Asia/Shanghai) dates, both ends included, in one of
two forms:

- yearly, ``"MM-DD"``: the same days every year (``{"from": "09-01", "to": "09-30"}``). A window whose
  ``from`` lies after its ``to`` runs over the new year (``"12-01"`` to ``"01-31"``).
- absolute, ``"YYYY-MM-DD"``: one period (``{"from": "2026-03-01", "to": "2026-03-31"}``), for a province
  that opens a menu once, e.g. in-school registration of a few missed students (REG-1).

Yearly is the usual form because the national rules are yearly ("within one month after term start",
REG-2); absolute periods cover one-off openings. A setting holds a list of windows; the menu is open on a
day inside any of them, and an empty list keeps it closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from backend.domain.errors import ValidationError

_LEAP_YEAR = 2000  # validates "02-29" in yearly windows


@dataclass(frozen=True)
class Window:
    start: str
    end: str

    @property
    def yearly(self) -> bool:
        return len(self.start) == 5

    def contains(self, day: date) -> bool:
        if not self.yearly:
            return date.fromisoformat(self.start) <= day <= date.fromisoformat(self.end)
        start, end, today = _month_day(self.start), _month_day(self.end), (day.month, day.day)
        if start <= end:
            return start <= today <= end
        return today >= start or today <= end

    def describe(self) -> str:
        """In Chinese: 每年9月1日至9月30日, or 2026年3月1日至2026年3月31日."""
        if self.yearly:
            (m1, d1), (m2, d2) = _month_day(self.start), _month_day(self.end)
            follows = "次年" if (m1, d1) > (m2, d2) else ""
            return f"每年{m1}月{d1}日至{follows}{m2}月{d2}日"
        first, last = date.fromisoformat(self.start), date.fromisoformat(self.end)
        return f"{first.year}年{first.month}月{first.day}日至{last.year}年{last.month}月{last.day}日"

    def as_json(self) -> dict[str, str]:
        return {"from": self.start, "to": self.end}


def parse_windows(value: Any) -> list[Window]:
    """A setting's list of windows, checked (CFG-2).

    Raises:
        ValidationError: not a list of ``{"from", "to"}`` pairs of the same form, an impossible date, or
            an absolute window that ends before it starts.
    """
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValidationError("业务时间须为时间段列表", field="value")
    windows = []
    for index, item in enumerate(value):
        field = f"value[{index}]"
        if not isinstance(item, dict) or set(item) != {"from", "to"}:
            raise ValidationError("每个时间段须有起止日期（from、to）", field=field)
        start, end = item["from"], item["to"]
        if not isinstance(start, str) or not isinstance(end, str) or len(start) != len(end):
            raise ValidationError("起止日期须同为“MM-DD”（每年）或同为“YYYY-MM-DD”（某一时段）", field=field)
        window = Window(start, end)
        try:
            if window.yearly:
                _month_day(start), _month_day(end)
            else:
                if date.fromisoformat(start) > date.fromisoformat(end):
                    raise ValidationError("结束日期早于开始日期", field=field)
        except ValueError:
            raise ValidationError(f"日期“{start}”或“{end}”无效", field=field) from None
        windows.append(window)
    return windows


def describe_windows(windows: Sequence[Window]) -> str:
    return "、".join(w.describe() for w in windows) if windows else "未开放"


def _month_day(text: str) -> tuple[int, int]:
    if len(text) != 5 or text[2] != "-" or not (text[:2] + text[3:]).isdigit():
        raise ValueError(text)
    day = date(_LEAP_YEAR, int(text[:2]), int(text[3:]))
    return day.month, day.day
