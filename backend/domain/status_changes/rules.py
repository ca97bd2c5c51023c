"""What each status change does, as data: the statuses it starts from, where it leads, what it must state.

Pure (no I/O), so the table is tested directly. Type → statuses it may start from → status it leads to
(STA-1)::

    SUSPENSION    IN_SCHOOL                                            → SUSPENDED
    RESUMPTION    SUSPENDED                                            → IN_SCHOOL (same grade or one below)
    REPEAT        IN_SCHOOL                                            → IN_SCHOOL, grade − 1
    SKIP          IN_SCHOOL                                            → IN_SCHOOL, grade + 1
    DROPOUT       IN_SCHOOL, SUSPENDED                                 → DROPPED_OUT
    DEATH         IN_SCHOOL, SUSPENDED, DROPPED_OUT, ABROAD, OTHER_LEAVE → DECEASED
    STUDY_ABROAD  IN_SCHOOL, SUSPENDED                                 → ABROAD
    WITHDRAWAL    IN_SCHOOL, SUSPENDED                                 → WITHDRAWN
    EXPULSION     IN_SCHOOL                                            → EXPELLED
    OTHER_LEAVE   IN_SCHOOL, SUSPENDED                                 → OTHER_LEAVE

Why these. A suspended student has not left the school: one who never comes back drops out (the very
case dropout control is about, STA-5), leaves without word (STA-4), goes abroad, withdraws or dies; one
cannot be suspended twice, repeat or skip a grade one does not attend, or be expelled (discipline is for
students attending). Death closes any record still open, so that a dead child leaves the dropout list.
Graduated and completed records are read-only (CHG-7); withdrawn, expelled and deceased are final; a
dropout or a student back from abroad comes back through registration (REG-3), not resumption, which
ends a suspension only.

Grades run 1–12 across stages; a stage's span depends on the school system (6-3 or 5-4): a repeat or
skip stays inside it (the move to the next stage is graduation and continuation, GRD, REG-8). The
province decides which types a stage offers at all (STA-3, ``ProvinceSettings.status_change_allowed``);
the stricter skip/repeat conditions a province may set are not modelled beyond "one grade, same stage".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from backend.domain.status_changes.errors import (
    AbsenceTooShortError,
    InvalidDetailsError,
    InvalidStatusForChangeError,
)
from backend.models.enums import RecordStatus, SchoolSystem, Stage, StatusChangeType

T = StatusChangeType
S = RecordStatus

TYPE_LABELS: dict[StatusChangeType, str] = {
    T.SUSPENSION: "休学",
    T.RESUMPTION: "复学",
    T.REPEAT: "留级",
    T.SKIP: "跳级",
    T.DROPOUT: "辍学",
    T.DEATH: "死亡",
    T.STUDY_ABROAD: "出国（境）",
    T.WITHDRAWAL: "退学",
    T.EXPULSION: "开除",
    T.OTHER_LEAVE: "其他离校",
}
STATUS_LABELS: dict[RecordStatus, str] = {
    S.IN_SCHOOL: "在校",
    S.SUSPENDED: "休学",
    S.GRADUATED: "毕业",
    S.COMPLETED: "结业",
    S.DROPPED_OUT: "辍学",
    S.ABROAD: "出国（境）",
    S.WITHDRAWN: "退学",
    S.EXPELLED: "开除",
    S.DECEASED: "死亡",
    S.OTHER_LEAVE: "其他离校",
}
STAGE_LABELS: dict[Stage, str] = {
    Stage.PRESCHOOL: "学前",
    Stage.PRIMARY: "小学",
    Stage.JUNIOR: "初中",
    Stage.SENIOR: "高中",
    Stage.VOCATIONAL: "中职",
}

# Primary and junior: compulsory education, where a dropout's record is kept and reported (STA-4, STA-5).
COMPULSORY_STAGES = frozenset({Stage.PRIMARY, Stage.JUNIOR})
READ_ONLY_STATUSES = frozenset({S.GRADUATED, S.COMPLETED})

TRANSITIONS: dict[StatusChangeType, tuple[frozenset[RecordStatus], RecordStatus]] = {
    T.SUSPENSION: (frozenset({S.IN_SCHOOL}), S.SUSPENDED),
    T.RESUMPTION: (frozenset({S.SUSPENDED}), S.IN_SCHOOL),
    T.REPEAT: (frozenset({S.IN_SCHOOL}), S.IN_SCHOOL),
    T.SKIP: (frozenset({S.IN_SCHOOL}), S.IN_SCHOOL),
    T.DROPOUT: (frozenset({S.IN_SCHOOL, S.SUSPENDED}), S.DROPPED_OUT),
    T.DEATH: (frozenset({S.IN_SCHOOL, S.SUSPENDED, S.DROPPED_OUT, S.ABROAD, S.OTHER_LEAVE}), S.DECEASED),
    T.STUDY_ABROAD: (frozenset({S.IN_SCHOOL, S.SUSPENDED}), S.ABROAD),
    T.WITHDRAWAL: (frozenset({S.IN_SCHOOL, S.SUSPENDED}), S.WITHDRAWN),
    T.EXPULSION: (frozenset({S.IN_SCHOOL}), S.EXPELLED),
    T.OTHER_LEAVE: (frozenset({S.IN_SCHOOL, S.SUSPENDED}), S.OTHER_LEAVE),
}

# The facts each type states in ``details``: key → (kind, required). Other keys are refused, so that a
# client's typo is caught instead of silently stored.
DATE, GRADE, ID, TEXT = "date", "grade", "id", "text"
DETAILS: dict[StatusChangeType, dict[str, tuple[str, bool]]] = {
    T.SUSPENSION: {"expectedReturn": (DATE, False)},
    T.RESUMPTION: {"targetGrade": (GRADE, False), "classId": (ID, False)},
    T.REPEAT: {"targetGrade": (GRADE, True), "classId": (ID, False)},
    T.SKIP: {"targetGrade": (GRADE, True), "classId": (ID, False)},
    T.DROPOUT: {},
    T.DEATH: {"dateOfDeath": (DATE, False)},
    # TRF-9 (AH 23): a cross-border transfer-out records destination, date and reason.
    T.STUDY_ABROAD: {
        "destination": (TEXT, True),
        "departureDate": (DATE, True),
        "expectedReturn": (DATE, False),
    },
    T.WITHDRAWAL: {},
    T.EXPULSION: {},
    T.OTHER_LEAVE: {"absentSince": (DATE, True)},
}
MAX_TEXT = 50
OTHER_LEAVE_MONTHS = 3
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ChangePlan:
    """What an approved change will do to the record, computed when it is requested."""

    to_status: RecordStatus
    to_grade: int
    details: dict[str, Any]  # normalised: dates as ISO strings, grades and ids as integers

    @property
    def class_id(self) -> int | None:
        value = self.details.get("classId")
        return value if isinstance(value, int) else None


def stage_grades(stage: Stage, system: SchoolSystem | None) -> range:
    """The grades a stage spans (1–12 numbering) under a school system; 6-3 where none is set."""
    five_four = system is SchoolSystem.FIVE_FOUR
    if stage is Stage.PRIMARY:
        return range(1, 6) if five_four else range(1, 7)
    if stage is Stage.JUNIOR:
        return range(6, 10) if five_four else range(7, 10)
    if stage in (Stage.SENIOR, Stage.VOCATIONAL):
        return range(10, 13)
    return range(0)


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier, the month's last day where it is shorter."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def check_status(change_type: StatusChangeType, status: RecordStatus) -> RecordStatus:
    """The status the change leads to, if the record's current status fits the type (STA-1, CHG-7)."""
    starts, leads_to = TRANSITIONS[change_type]
    if status in READ_ONLY_STATUSES:
        raise InvalidStatusForChangeError("学生已毕业或结业，学籍不能再办理异动", field="changeType")
    if status not in starts:
        raise InvalidStatusForChangeError(
            f"学籍状态为“{STATUS_LABELS[status]}”的学生不能办理{TYPE_LABELS[change_type]}",
            field="changeType",
        )
    return leads_to


def plan_change(
    change_type: StatusChangeType,
    *,
    status: RecordStatus,
    stage: Stage,
    grade: int,
    system: SchoolSystem | None,
    details: Mapping[str, Any],
    today: date,
) -> ChangePlan:
    """Check the record's status and the type's facts; say what the change will do (STA-1, STA-4).

    Raises:
        InvalidStatusForChangeError: the current status does not fit the type (``INVALID_STATUS_FOR_CHANGE``).
        InvalidDetailsError: a fact is missing or malformed, on ``details.<key>`` (``INVALID_DETAILS``).
        AbsenceTooShortError: other leave for a student gone less than three months (STA-4).
    """
    to_status = check_status(change_type, status)
    clean = clean_details(change_type, details, today=today)
    to_grade = grade
    grades = stage_grades(stage, system)
    target = clean.get("targetGrade")
    if change_type in (T.REPEAT, T.SKIP):
        expected = grade - 1 if change_type is T.REPEAT else grade + 1
        if expected not in grades:
            edge = "第一个" if change_type is T.REPEAT else "最后一个"
            raise InvalidDetailsError(
                f"{grade}年级是{STAGE_LABELS.get(stage, '')}{edge}年级，不能{TYPE_LABELS[change_type]}",
                field="details.targetGrade",
            )
        if target != expected:
            raise InvalidDetailsError(
                f"{TYPE_LABELS[change_type]}的目标年级应为{expected}年级", field="details.targetGrade"
            )
        to_grade = expected
    elif change_type is T.RESUMPTION and target is not None:
        # Back to the grade left, or to the one below to follow the next cohort (跟读).
        if target not in (grade, grade - 1) or target not in grades:
            raise InvalidDetailsError(
                f"复学的年级应为{grade}年级或下一届所在的{grade - 1}年级", field="details.targetGrade"
            )
        to_grade = target
    if change_type is T.OTHER_LEAVE:
        since = date.fromisoformat(clean["absentSince"])
        if since > months_before(today, OTHER_LEAVE_MONTHS):
            raise AbsenceTooShortError(field="details.absentSince")
    return ChangePlan(to_status=to_status, to_grade=to_grade, details=clean)


def clean_details(
    change_type: StatusChangeType, details: Mapping[str, Any], *, today: date
) -> dict[str, Any]:
    """The type's facts, checked and normalised; unknown keys and missing required ones are refused."""
    specs = DETAILS[change_type]
    for key in details:
        if key not in specs:
            raise InvalidDetailsError(f"“{key}”不适用于{TYPE_LABELS[change_type]}", field=f"details.{key}")
    clean: dict[str, Any] = {}
    for key, (kind, required) in specs.items():
        value = details.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise InvalidDetailsError(
                    f"{TYPE_LABELS[change_type]}须填写{_LABELS[key]}", field=f"details.{key}"
                )
            continue
        clean[key] = _clean_value(key, kind, value, today)
    return clean


_LABELS = {
    "expectedReturn": "预计返校日期",
    "targetGrade": "目标年级",
    "classId": "编入班级",
    "dateOfDeath": "死亡日期",
    "destination": "前往的国家或地区",
    "departureDate": "出境日期",
    "absentSince": "离校日期",
}


def _clean_value(key: str, kind: str, value: Any, today: date) -> Any:
    field = f"details.{key}"
    label = _LABELS[key]
    if kind == DATE:
        if not isinstance(value, str) or not _ISO_DATE.match(value.strip()):
            raise InvalidDetailsError(f"{label}须为“YYYY-MM-DD”格式的日期", field=field)
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidDetailsError(f"{label}不是有效日期", field=field) from None
        if key in ("dateOfDeath", "absentSince") and day > today:
            raise InvalidDetailsError(f"{label}不能晚于今天", field=field)
        if key == "expectedReturn" and day <= today:
            raise InvalidDetailsError(f"{label}须晚于今天", field=field)
        return day.isoformat()
    if kind in (GRADE, ID):
        number = _integer(value)
        if number is None or number < 1 or (kind == GRADE and number > 12) or number > 2**62:
            raise InvalidDetailsError(f"{label}无效", field=field)
        return number
    text = value.strip() if isinstance(value, str) else None
    if not text or len(text) > MAX_TEXT:
        raise InvalidDetailsError(f"{label}须为1至{MAX_TEXT}个字", field=field)
    return text


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,19}", value.strip()):
        return int(value.strip())
    return None
