"""The pure status-change table: which status each type starts from and leads to, grades, facts."""

from __future__ import annotations

from datetime import date

import pytest

from backend.domain.errors import DomainError
from backend.domain.status_changes.rules import check_status, months_before, plan_change, stage_grades
from backend.models.enums import RecordStatus, SchoolSystem, Stage, StatusChangeType

T, S = StatusChangeType, RecordStatus
TODAY = date(2026, 11, 25)

# Every (type, status) pair that may start, and where it leads; every other pair is refused.
LEADS_TO: dict[tuple[StatusChangeType, RecordStatus], RecordStatus] = {
    (T.SUSPENSION, S.IN_SCHOOL): S.SUSPENDED,
    (T.RESUMPTION, S.SUSPENDED): S.IN_SCHOOL,
    (T.REPEAT, S.IN_SCHOOL): S.IN_SCHOOL,
    (T.SKIP, S.IN_SCHOOL): S.IN_SCHOOL,
    (T.DROPOUT, S.IN_SCHOOL): S.DROPPED_OUT,
    (T.DROPOUT, S.SUSPENDED): S.DROPPED_OUT,
    (T.DEATH, S.IN_SCHOOL): S.DECEASED,
    (T.DEATH, S.SUSPENDED): S.DECEASED,
    (T.DEATH, S.DROPPED_OUT): S.DECEASED,
    (T.DEATH, S.ABROAD): S.DECEASED,
    (T.DEATH, S.OTHER_LEAVE): S.DECEASED,
    (T.STUDY_ABROAD, S.IN_SCHOOL): S.ABROAD,
    (T.STUDY_ABROAD, S.SUSPENDED): S.ABROAD,
    (T.WITHDRAWAL, S.IN_SCHOOL): S.WITHDRAWN,
    (T.WITHDRAWAL, S.SUSPENDED): S.WITHDRAWN,
    (T.EXPULSION, S.IN_SCHOOL): S.EXPELLED,
    (T.OTHER_LEAVE, S.IN_SCHOOL): S.OTHER_LEAVE,
    (T.OTHER_LEAVE, S.SUSPENDED): S.OTHER_LEAVE,
}


@pytest.mark.parametrize(("change_type", "status"), [(t, s) for t in T for s in S], ids=str)
def test_each_type_starts_only_from_the_statuses_that_fit(
    change_type: StatusChangeType, status: RecordStatus
) -> None:  # RULES: STA-1, CHG-7
    expected = LEADS_TO.get((change_type, status))
    if expected is not None:
        assert check_status(change_type, status) is expected
        return
    with pytest.raises(DomainError) as refused:
        check_status(change_type, status)
    assert (refused.value.code, refused.value.field) == ("INVALID_STATUS_FOR_CHANGE", "changeType")


@pytest.mark.parametrize("status", [S.GRADUATED, S.COMPLETED])
def test_graduated_and_completed_records_take_no_status_change(status: RecordStatus) -> None:  # RULES: CHG-7
    for change_type in T:
        with pytest.raises(DomainError) as refused:
            check_status(change_type, status)
        assert refused.value.code == "INVALID_STATUS_FOR_CHANGE"
        assert "毕业或结业" in refused.value.message


@pytest.mark.parametrize(
    ("stage", "system", "grades"),
    [
        (Stage.PRIMARY, SchoolSystem.SIX_THREE, range(1, 7)),
        (Stage.PRIMARY, SchoolSystem.FIVE_FOUR, range(1, 6)),
        (Stage.JUNIOR, SchoolSystem.SIX_THREE, range(7, 10)),
        (Stage.JUNIOR, SchoolSystem.FIVE_FOUR, range(6, 10)),
        (Stage.SENIOR, None, range(10, 13)),
        (Stage.PRIMARY, None, range(1, 7)),
    ],
)
def test_stage_grades_follow_the_school_system(
    stage: Stage, system: SchoolSystem | None, grades: range
) -> None:
    assert stage_grades(stage, system) == grades


def _plan(change_type: StatusChangeType, grade: int, details: dict, **kw: object):  # type: ignore[no-untyped-def]
    args: dict = {
        "status": S.IN_SCHOOL,
        "stage": Stage.PRIMARY,
        "grade": grade,
        "system": SchoolSystem.SIX_THREE,
        "details": details,
        "today": TODAY,
    }
    args.update(kw)
    return plan_change(change_type, **args)


def test_repeat_and_skip_move_one_grade_within_the_stage() -> None:  # RULES: STA-1, STA-3
    assert _plan(T.REPEAT, 3, {"targetGrade": 2}).to_grade == 2
    assert _plan(T.SKIP, 3, {"targetGrade": "4"}).to_grade == 4
    assert _plan(T.SUSPENSION, 3, {}).to_grade == 3


@pytest.mark.parametrize(
    ("change_type", "grade", "details", "system", "field"),
    [
        (T.REPEAT, 3, {}, SchoolSystem.SIX_THREE, "details.targetGrade"),
        (T.REPEAT, 3, {"targetGrade": 1}, SchoolSystem.SIX_THREE, "details.targetGrade"),
        (T.REPEAT, 1, {"targetGrade": 0}, SchoolSystem.SIX_THREE, "details.targetGrade"),
        (T.SKIP, 6, {"targetGrade": 7}, SchoolSystem.SIX_THREE, "details.targetGrade"),
        (T.SKIP, 5, {"targetGrade": 6}, SchoolSystem.FIVE_FOUR, "details.targetGrade"),
        (T.SKIP, 3, {"targetGrade": True}, SchoolSystem.SIX_THREE, "details.targetGrade"),
        (T.SUSPENSION, 3, {"expectedReturn": "2026-11-25"}, SchoolSystem.SIX_THREE, "details.expectedReturn"),
        (T.SUSPENSION, 3, {"expectedReturn": "2027/03/01"}, SchoolSystem.SIX_THREE, "details.expectedReturn"),
        (T.SUSPENSION, 3, {"note": "x"}, SchoolSystem.SIX_THREE, "details.note"),
        (T.STUDY_ABROAD, 3, {}, SchoolSystem.SIX_THREE, "details.destination"),
        (T.STUDY_ABROAD, 3, {"destination": "  "}, SchoolSystem.SIX_THREE, "details.destination"),
        # TRF-9: the date of leaving is recorded too
        (T.STUDY_ABROAD, 3, {"destination": "加拿大"}, SchoolSystem.SIX_THREE, "details.departureDate"),
        (T.STUDY_ABROAD, 3, {"destination": "国" * 51}, SchoolSystem.SIX_THREE, "details.destination"),
        (T.DEATH, 3, {"dateOfDeath": "2026-12-01"}, SchoolSystem.SIX_THREE, "details.dateOfDeath"),
        (T.OTHER_LEAVE, 3, {}, SchoolSystem.SIX_THREE, "details.absentSince"),
        (T.OTHER_LEAVE, 3, {"absentSince": "2026-02-30"}, SchoolSystem.SIX_THREE, "details.absentSince"),
        (T.REPEAT, 3, {"targetGrade": 2, "classId": "x"}, SchoolSystem.SIX_THREE, "details.classId"),
    ],
)
def test_missing_or_malformed_facts_are_refused_on_their_key(
    change_type: StatusChangeType, grade: int, details: dict, system: SchoolSystem, field: str
) -> None:  # RULES: STA-1, STA-3, TRF-9
    with pytest.raises(DomainError) as refused:
        _plan(change_type, grade, details, system=system)
    assert (refused.value.code, refused.value.field) == ("INVALID_DETAILS", field)


def test_resumption_returns_to_the_grade_left_or_the_one_below() -> None:  # RULES: STA-1
    suspended = {"status": S.SUSPENDED}
    assert _plan(T.RESUMPTION, 3, {}, **suspended).to_grade == 3
    assert _plan(T.RESUMPTION, 3, {"targetGrade": 2}, **suspended).to_grade == 2
    with pytest.raises(DomainError) as refused:
        _plan(T.RESUMPTION, 3, {"targetGrade": 4}, **suspended)
    assert refused.value.field == "details.targetGrade"


def test_other_leave_needs_three_months_of_absence() -> None:  # RULES: STA-4
    assert _plan(T.OTHER_LEAVE, 3, {"absentSince": "2026-08-25"}).to_status is S.OTHER_LEAVE
    with pytest.raises(DomainError) as refused:
        _plan(T.OTHER_LEAVE, 3, {"absentSince": "2026-08-26"})
    assert (refused.value.code, refused.value.field) == ("ABSENCE_TOO_SHORT", "details.absentSince")


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 25), date(2026, 8, 25)),
        (date(2026, 5, 31), date(2026, 2, 28)),
        (date(2028, 5, 31), date(2028, 2, 29)),
        (date(2026, 2, 15), date(2025, 11, 15)),
    ],
)
def test_months_before_counts_calendar_months(day: date, expected: date) -> None:  # RULES: STA-4
    assert months_before(day, 3) == expected


def test_facts_are_normalised() -> None:
    plan = _plan(
        T.STUDY_ABROAD,
        3,
        {"destination": " 加拿大 ", "departureDate": "2026-12-01", "expectedReturn": "2027-09-01"},
    )
    assert plan.details == {
        "destination": "加拿大",
        "departureDate": "2026-12-01",
        "expectedReturn": "2027-09-01",
    }
