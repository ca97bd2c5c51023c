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
- ``workflow.deadline_days`` 10 working days a step and ``workflow.deadline_action`` "record overdue"
  (TRF-4); Anhui sets 20 and "count as approved" (AH 24). ``window.school_holidays`` empty: the winter and
  summer holidays, which do not count towards a step's working days (TRF-4), differ by province and year.
- ``status_change.allowed``: every type (STA-1) in every stage except withdrawal and expulsion during
  compulsory education (primary, junior), which the Compulsory Education Law rules out; a province
  narrows the list per stage (STA-3).
- ``status_change.department_review``: the department reviews every type but suspension and resumption,
  which the school decides (STA-2); dropout (STA-5) and going abroad (TRF-9, AH 23) always go to it.
- ``transfer.merge_shared_department`` on: where both schools share a department, its two reviews become
  one final step (TRF-1).
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
from backend.models.enums import (
    DeadlineAction,
    RegistrationKind,
    SchoolSystem,
    Stage,
    StatusChangeType,
    UnitKind,
)

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


def _days(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 60:
        raise ValidationError("办理时限须为1至60个工作日", field="value")
    return value


def _deadline_action(value: Any) -> Any:
    allowed = (DeadlineAction.RECORD_OVERDUE, DeadlineAction.APPROVE)
    if value not in [str(a) for a in allowed]:
        raise ValidationError(
            "时限届满的处理须为 RECORD_OVERDUE（记为超期）或 APPROVE（视为同意）", field="value"
        )
    return value


STATUS_CHANGE_STAGES = (Stage.PRIMARY, Stage.JUNIOR, Stage.SENIOR, Stage.VOCATIONAL)
ALL_STATUS_CHANGES = [str(t) for t in StatusChangeType]
COMPULSORY_STATUS_CHANGES = [
    t for t in ALL_STATUS_CHANGES if t not in (StatusChangeType.WITHDRAWAL, StatusChangeType.EXPULSION)
]


def _status_change_types(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v in ALL_STATUS_CHANGES for v in value):
        raise ValidationError("异动类型须为 " + "、".join(ALL_STATUS_CHANGES) + " 中的若干项", field="value")
    return [t for t in ALL_STATUS_CHANGES if t in value]


def _allowed_status_changes(value: Any) -> Any:
    stages = {str(stage) for stage in STATUS_CHANGE_STAGES}
    if not isinstance(value, dict) or set(value) != stages:
        raise ValidationError(
            "须按学段（PRIMARY、JUNIOR、SENIOR、VOCATIONAL）分别设置允许的异动类型", field="value"
        )
    return {stage: _status_change_types(types) for stage, types in value.items()}


def _department_review(value: Any) -> Any:
    types = _status_change_types(value)
    if StatusChangeType.DROPOUT not in types:
        raise ValidationError("辍学须经教育行政部门审核（15个工作日内）", field="value")
    if StatusChangeType.STUDY_ABROAD not in types:
        raise ValidationError("出国（境）转出须经教育行政部门审核", field="value")
    return types


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
        SettingSpec("workflow.deadline_days", "每一方办理时限（工作日）", 10, _days),
        SettingSpec(
            "workflow.deadline_action",
            "办理时限届满的处理",
            str(DeadlineAction.RECORD_OVERDUE),
            _deadline_action,
        ),
        SettingSpec("window.school_holidays", "寒暑假（不计入办理时限）", [], _windows),
        SettingSpec(
            "status_change.allowed",
            "各学段允许的异动类型",
            {
                str(Stage.PRIMARY): COMPULSORY_STATUS_CHANGES,
                str(Stage.JUNIOR): COMPULSORY_STATUS_CHANGES,
                str(Stage.SENIOR): ALL_STATUS_CHANGES,
                str(Stage.VOCATIONAL): ALL_STATUS_CHANGES,
            },
            _allowed_status_changes,
        ),
        SettingSpec(
            "status_change.department_review",
            "须经教育行政部门审核的异动类型",
            [
                t
                for t in ALL_STATUS_CHANGES
                if t not in (StatusChangeType.SUSPENSION, StatusChangeType.RESUMPTION)
            ],
            _department_review,
        ),
        SettingSpec(
            "transfer.merge_shared_department", "转出转入学校同属一个主管部门时合并审核", True, _switch
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

    @property
    def deadline_days(self) -> int:
        return int(self.value("workflow.deadline_days"))

    @property
    def deadline_action(self) -> DeadlineAction:
        return DeadlineAction(self.value("workflow.deadline_action"))

    @property
    def school_holidays(self) -> list[Window]:
        return self.windows("window.school_holidays")

    def status_change_allowed(self, stage: Stage, change_type: StatusChangeType) -> bool:
        """Whether the province allows this type of status change in this stage (STA-3)."""
        allowed: Mapping[str, list[str]] = self.value("status_change.allowed")
        return str(change_type) in allowed.get(str(stage), [])

    def needs_department_review(self, change_type: StatusChangeType) -> bool:
        """Whether the supervising department reviews this type after the school (STA-2, STA-5)."""
        return str(change_type) in self.value("status_change.department_review")

    @property
    def merge_shared_department(self) -> bool:
        return bool(self.value("transfer.merge_shared_department"))

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
