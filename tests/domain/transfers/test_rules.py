"""The pure rules of transfers: summer stop, study windows, statuses, grade mapping, entry age, reasons."""

from __future__ import annotations

from datetime import date

import pytest

from backend.domain.transfers.errors import GradeMismatchError
from backend.domain.transfers.rules import (
    REJECTION_REASONS,
    entry_cutoff,
    entry_warnings,
    in_summer_blackout,
    next_stage_grade_fits,
    post_graduation_window_open,
    requested_grade_change,
    transfer_refusal,
)
from backend.models.enums import RecordStatus, Stage


@pytest.mark.parametrize(
    ("day", "closed"),
    [
        (date(2026, 7, 14), False),
        (date(2026, 7, 15), True),
        (date(2026, 8, 1), True),
        (date(2026, 8, 14), True),
        (date(2026, 8, 15), False),
        (date(2026, 1, 15), False),
    ],
)
def test_no_new_transfers_from_july_15_to_august_14(day: date, closed: bool) -> None:  # RULES: TRF-5
    assert in_summer_blackout(day) is closed


@pytest.mark.parametrize(
    ("day", "open_"),
    [
        (date(2026, 8, 14), False),
        (date(2026, 8, 15), True),
        (date(2026, 12, 14), True),
        (date(2026, 12, 15), False),
        (date(2026, 2, 28), False),
        (date(2026, 3, 1), True),
        (date(2026, 5, 31), True),
        (date(2026, 6, 1), False),
    ],
)
def test_post_graduation_windows(day: date, open_: bool) -> None:  # RULES: TRF-10
    assert post_graduation_window_open(day) is open_


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (RecordStatus.IN_SCHOOL, None),
        (RecordStatus.ABROAD, None),
        (RecordStatus.OTHER_LEAVE, None),
        (RecordStatus.WITHDRAWN, None),
        (RecordStatus.EXPELLED, None),
        (RecordStatus.SUSPENDED, "RESUME_FIRST"),
        (RecordStatus.DROPPED_OUT, "RESUME_FIRST"),
        (RecordStatus.GRADUATED, "STATUS_NOT_TRANSFERABLE"),
        (RecordStatus.COMPLETED, "STATUS_NOT_TRANSFERABLE"),
        (RecordStatus.DECEASED, "STATUS_NOT_TRANSFERABLE"),
    ],
)
def test_which_statuses_may_transfer(status: RecordStatus, code: str | None) -> None:  # RULES: TRF-6
    refusal = transfer_refusal(status)
    assert (refusal.code if refusal else None) == code


def test_every_status_is_decided() -> None:  # RULES: TRF-6
    for status in RecordStatus:
        transfer_refusal(status)  # no status falls through unanswered


def test_grades_map_by_number_between_school_systems() -> None:  # RULES: TRF-8
    # Grade 6 of a 6-3 primary school is grade 6 of a 5-4 junior school and the other way round.
    assert requested_grade_change(6, 6, None) is None
    assert requested_grade_change(6, 6, 6) is None
    # Another grade is asked for explicitly and goes to the receiving county.
    assert requested_grade_change(6, 7, 7) == 7
    with pytest.raises(GradeMismatchError) as caught:
        requested_grade_change(6, 7, None)
    assert caught.value.field == "targetClassId"
    with pytest.raises(GradeMismatchError):
        requested_grade_change(6, 7, 5)
    with pytest.raises(GradeMismatchError) as caught:
        requested_grade_change(6, 13, 13)
    assert caught.value.field == "targetGrade"


def test_graduates_enter_a_later_grade() -> None:  # RULES: TRF-10
    assert next_stage_grade_fits(Stage.PRIMARY, 6, 7)
    assert not next_stage_grade_fits(Stage.PRIMARY, 6, 6)
    assert next_stage_grade_fits(Stage.PRESCHOOL, 3, 1)


@pytest.mark.parametrize(
    ("day", "cutoff"),
    [
        (date(2026, 8, 14), date(2025, 8, 31)),
        (date(2026, 8, 15), date(2026, 8, 31)),
        (date(2026, 11, 25), date(2026, 8, 31)),
        (date(2027, 3, 1), date(2026, 8, 31)),
    ],
)
def test_the_school_years_31_august(day: date, cutoff: date) -> None:  # RULES: TRF-11
    assert entry_cutoff(day) == cutoff


def test_under_six_on_31_august_across_provinces_is_flagged() -> None:  # RULES: TRF-11
    day = date(2026, 11, 25)
    flagged = entry_warnings(birth_date=date(2020, 9, 1), day=day, cross_province=True)
    assert [warning.code for warning in flagged] == ["UNDER_ENTRY_AGE"]
    assert entry_warnings(birth_date=date(2020, 8, 31), day=day, cross_province=True) == []
    assert entry_warnings(birth_date=date(2020, 9, 1), day=day, cross_province=False) == []


def test_rejection_reasons_exclude_the_forbidden_ones() -> None:  # RULES: TRF-10
    codes = [reason.code for reason in REJECTION_REASONS]
    labels = "".join(reason.label for reason in REJECTION_REASONS)
    assert len(codes) == len(set(codes)) >= 3
    for forbidden in ("分数", "成绩", "违规", "招生政策", "招生规定"):
        assert forbidden not in labels
