"""Provincial business windows and switches (业务时间 / 业务开关, CFG-2), with national defaults.

A province stores only what it changes (``province_setting`` rows, one per key); every other key keeps the
national default below. ``load_province_settings`` reads the rows of the province above any unit in one
query and returns a ``ProvinceSettings`` with typed accessors.

Defaults and why:

- ``window.primary_new`` 每年 9/1–9/30: primary grade-1 registration "within one month after term start"
  (REG-2; 2015 二), with term start taken as 1 September; Anhui's deadline is 9/30 too (AH 15).
- ``window.in_school``, ``window.returning``, ``window.non_grade_one`` open all year: the national rules
  let the province decide when these menus open (REG-1, REG-3) and set no period, and a school must never
  hold a student it cannot register (REG-6); a province narrows them.
- ``switch.primary_new_enabled`` on; ``switch.may_delete_official_number`` off (NUM-4: "not deleted in
  principle").
- ``review.levels`` ``["COUNTY"]``: registration is reviewed by the school's supervising department
  (REG-4, AH 15); a province may add CITY or PROVINCE.
- ``problem.graduating_grades``: the final grade of each stage per school system, 6 (5 on 5-4), 9 and 12
  (PRB-4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.errors import ValidationError
from backend.domain.settings.windows import Window, parse_windows
from backend.domain.units.tree import path_ids
from backend.models import ProvinceSetting
from backend.models.enums import RegistrationKind, SchoolSystem, UnitKind

ALL_YEAR = [{"from": "01-01", "to": "12-31"}]
REVIEW_UNIT_KINDS = (UnitKind.PROVINCE, UnitKind.CITY, UnitKind.COUNTY)


@dataclass(frozen=True)
class SettingSpec:
    key: str
    label_zh: str
    default: Any
    check: Callable[[Any], Any]  # validates a new value, returns it as stored (JSON)


def _windows(value: Any) -> Any:
    return [w.as_json() for w in parse_windows(value)]


def _switch(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValidationError("业务开关的值须为是或否", field="value")
    return value


def _review_levels(value: Any) -> Any:
    kinds = {str(kind) for kind in REVIEW_UNIT_KINDS}
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v in kinds for v in value):
        raise ValidationError("核办层级须为 PROVINCE、CITY、COUNTY 中的一项或几项", field="value")
    if len(set(value)) != len(value):
        raise ValidationError("核办层级不能重复", field="value")
    # Review runs upwards from the school (REG-4): county, then city, then province.
    return sorted(value, key=lambda kind: -[str(k) for k in REVIEW_UNIT_KINDS].index(kind))


def _graduating_grades(value: Any) -> Any:
    systems = {str(system) for system in SchoolSystem}
    if not isinstance(value, dict) or set(value) != systems:
        raise ValidationError("毕业年级须分别按学制（SIX_THREE、FIVE_FOUR）设置", field="value")
    for grades in value.values():
        if not isinstance(grades, list) or not all(
            isinstance(g, int) and not isinstance(g, bool) and 1 <= g <= 12 for g in grades
        ):
            raise ValidationError("毕业年级须为1至12之间的年级列表", field="value")
    return {system: sorted(set(grades)) for system, grades in value.items()}


SETTINGS: dict[str, SettingSpec] = {
    spec.key: spec
    for spec in (
        SettingSpec("window.in_school", "在校生注册业务时间", ALL_YEAR, _windows),
        SettingSpec(
            "window.primary_new", "小学新生注册业务时间", [{"from": "09-01", "to": "09-30"}], _windows
        ),
        SettingSpec("window.returning", "来华归国学生注册业务时间", ALL_YEAR, _windows),
        SettingSpec("window.non_grade_one", "非小学一年级新建学籍业务时间", ALL_YEAR, _windows),
        SettingSpec("switch.primary_new_enabled", "小学新生注册", True, _switch),
        SettingSpec("switch.may_delete_official_number", "是否可以删除有正式学籍号的学生", False, _switch),
        SettingSpec("review.levels", "注册核办的教育行政部门层级", ["COUNTY"], _review_levels),
        SettingSpec(
            "problem.graduating_grades",
            "毕业年级",
            {"SIX_THREE": [6, 9, 12], "FIVE_FOUR": [5, 9, 12]},
            _graduating_grades,
        ),
    )
}

REGISTRATION_WINDOWS: dict[RegistrationKind, str] = {
    RegistrationKind.IN_SCHOOL: "window.in_school",
    RegistrationKind.PRIMARY_NEW: "window.primary_new",
    RegistrationKind.RETURNING: "window.returning",
    RegistrationKind.NON_GRADE_ONE: "window.non_grade_one",
}


class ProvinceSettings:
    """One province's settings: stored values over national defaults, read through typed accessors."""

    def __init__(self, stored: Mapping[str, Any] | None = None) -> None:
        self.stored = dict(stored or {})

    def value(self, key: str) -> Any:
        if key in self.stored:
            return self.stored[key]
        return SETTINGS[key].default

    def windows(self, key: str) -> list[Window]:
        return parse_windows(self.value(key))

    def registration_window(self, kind: RegistrationKind) -> tuple[str, list[Window]]:
        """The window key and windows of a registration kind (REG-1, REG-2, REG-3, REG-5)."""
        key = REGISTRATION_WINDOWS[kind]
        return key, self.windows(key)

    def is_open(self, key: str, day: date) -> bool:
        return any(window.contains(day) for window in self.windows(key))

    @property
    def primary_new_enabled(self) -> bool:
        return bool(self.value("switch.primary_new_enabled"))

    @property
    def may_delete_official_number(self) -> bool:
        return bool(self.value("switch.may_delete_official_number"))

    @property
    def review_levels(self) -> list[UnitKind]:
        return [UnitKind(kind) for kind in self.value("review.levels")]

    def graduating_grades(self, system: SchoolSystem | None) -> frozenset[int]:
        """Grades in their stage's final year (PRB-4); schools without a system (senior only) use 6-3."""
        grades: Mapping[str, list[int]] = self.value("problem.graduating_grades")
        return frozenset(grades[str(system or SchoolSystem.SIX_THREE)])


async def load_province_settings(session: AsyncSession, unit_path: str) -> ProvinceSettings:
    """The settings of the province above (or at) the unit at ``unit_path``, in one query.

    Only province units hold rows (``set_province_setting`` sees to it), so the rows of every unit on the
    path are the province's. Above any province (the ministry) the national defaults apply.
    """
    rows = await session.execute(
        select(ProvinceSetting.key, ProvinceSetting.value).where(
            ProvinceSetting.province_id.in_(path_ids(unit_path))
        )
    )
    return ProvinceSettings({key: value for key, value in rows if key in SETTINGS})
