"""The calendar, status and grade rules of transfers and post-graduation study, with no I/O.

Every date here is an Asia/Shanghai calendar date (``backend.clock.local_today``): the rules are stated in
local time ("7/15 00:00 to 8/14 24:00"), so a day test is exact to the minute.

- TRF-5: no new transfers 7/15–8/14; businesses started before continue (only starts are checked).
- TRF-10: new post-graduation requests 8/15–12/14 and 3/1–5/31.
- TRF-6: which record statuses may transfer. The rule lists study abroad, other leave, withdrawn and
  expelled beside in school; suspended students resume first. Decisions for the statuses it does not
  name: graduated and completed students do not transfer (a graduate of another province uses
  post-graduation study, TRF-10; one of this province, admission, GRD-7/8); a dropout, like a suspended
  student, returns to the old school first (STA-5 keeps the record there during compulsory years); a
  deceased student's record is closed.
- TRF-8: grades 1–9 map by number between 6-3 and 5-4, so a grade-6 pupil of a 6-3 primary school enters
  grade 6 of a 5-4 junior school (the stage follows the class). Another grade is a request the receiving
  county reviews.
- TRF-11: a child under 6 on 31 August entering from another province is flagged for the approvers. The
  31 August is that of the school year the request is for: a request from 15 August on (the first day
  after the summer blackout) is for the school year starting that September; an earlier one is for the
  school year in progress.
- TRF-10: the graduating county rejects only for one of ``REJECTION_REASONS``, a list that leaves out on
  purpose "the receiving province may be breaking its admission rules" and "the scores are too low".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from backend.domain.errors import DomainError
from backend.domain.transfers.errors import (
    GradeMismatchError,
    ResumeFirstError,
    StatusNotTransferableError,
)
from backend.models.enums import RecordStatus, Stage

MonthDay = tuple[int, int]

SUMMER_BLACKOUT: tuple[MonthDay, MonthDay] = ((7, 15), (8, 14))
POST_GRADUATION_WINDOWS: tuple[tuple[MonthDay, MonthDay], ...] = (((8, 15), (12, 14)), ((3, 1), (5, 31)))
# The first day after the summer blackout opens the next school year's business (TRF-5, TRF-11).
SCHOOL_YEAR_TURNS: MonthDay = (8, 15)
ENTRY_AGE = 6
ENTRY_CUTOFF: MonthDay = (8, 31)
HIGHEST_GRADE = 12

# TRF-6: these may transfer directly (also across provinces); the status becomes in-school on completion.
TRANSFERABLE_STATUSES = frozenset(
    {
        RecordStatus.IN_SCHOOL,
        RecordStatus.ABROAD,
        RecordStatus.OTHER_LEAVE,
        RecordStatus.WITHDRAWN,
        RecordStatus.EXPELLED,
    }
)


def _within(day: date, span: tuple[MonthDay, MonthDay]) -> bool:
    first, last = span
    return first <= (day.month, day.day) <= last


def in_summer_blackout(day: date) -> bool:
    """Whether ``day`` lies in the summer stop for new transfers, 7/15 to 8/14 inclusive (TRF-5)."""
    return _within(day, SUMMER_BLACKOUT)


def post_graduation_window_open(day: date) -> bool:
    """Whether new post-graduation requests are accepted on ``day`` (TRF-10)."""
    return any(_within(day, window) for window in POST_GRADUATION_WINDOWS)


def transfer_refusal(status: RecordStatus) -> DomainError | None:
    """Why a record in ``status`` may not transfer, or ``None`` if it may (TRF-6)."""
    if status in TRANSFERABLE_STATUSES:
        return None
    if status is RecordStatus.SUSPENDED:
        return ResumeFirstError()
    if status is RecordStatus.DROPPED_OUT:
        return ResumeFirstError("辍学学生须先回原学校复学，再办理转学")
    if status in (RecordStatus.GRADUATED, RecordStatus.COMPLETED):
        return StatusNotTransferableError(
            "已毕业（结业）的学生不办理转学：外省毕业生请办理毕业后跨省就学，本省毕业生通过招生录取升学"
        )
    return StatusNotTransferableError("该学生学籍已注销（死亡），不能办理转学")


def requested_grade_change(record_grade: int, class_grade: int, target_grade: int | None) -> int | None:
    """The grade the receiving school asks to change to, or ``None`` when the grade stays (TRF-8).

    Grades 1–9 map by number between 6-3 and 5-4, so the mapped grade is the record's own. Without a
    ``target_grade`` the class must be of that grade; with one, the class must be of the asked-for grade,
    and a grade other than the mapped one is returned for the receiving county's review.

    Raises:
        GradeMismatchError: the class's grade is neither the mapped grade nor the asked-for one.
    """
    mapped = record_grade
    if target_grade is None:
        if class_grade != mapped:
            raise GradeMismatchError()
        return None
    if not 1 <= target_grade <= HIGHEST_GRADE:
        raise GradeMismatchError("拟转入年级须在1至12之间", field="targetGrade")
    if class_grade != target_grade:
        raise GradeMismatchError("所选班级的年级与拟转入年级不一致", field="targetClassId")
    return None if target_grade == mapped else target_grade


def next_stage_grade_fits(record_stage: Stage, record_grade: int, class_grade: int) -> bool:
    """Whether a graduate may enter a class of ``class_grade`` (TRF-10).

    A later grade than the one finished; a preschool graduate enters any primary grade.
    """
    return record_stage is Stage.PRESCHOOL or class_grade > record_grade


def entry_cutoff(day: date) -> date:
    """The 31 August of the school year a request made on ``day`` is for (TRF-11)."""
    year = day.year if (day.month, day.day) >= SCHOOL_YEAR_TURNS else day.year - 1
    return date(year, *ENTRY_CUTOFF)


def under_entry_age(birth_date: date, day: date) -> bool:
    """Whether the child is not yet 6 on the school year's 31 August (TRF-11)."""
    cutoff = entry_cutoff(day)
    sixth_birthday_limit = date(cutoff.year - ENTRY_AGE, *ENTRY_CUTOFF)
    return birth_date > sixth_birthday_limit


@dataclass(frozen=True)
class TransferWarning:
    """Something every approver should see before deciding; it refuses nothing."""

    code: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def entry_warnings(*, birth_date: date, day: date, cross_province: bool) -> list[TransferWarning]:
    """The warnings of a request made on ``day`` (TRF-11: under 6 on 31 August, across provinces)."""
    if not cross_province or not under_entry_age(birth_date, day):
        return []
    cutoff = entry_cutoff(day)
    return [
        TransferWarning(
            "UNDER_ENTRY_AGE",
            f"该生至{cutoff.year}年8月31日未满6周岁（出生日期{birth_date.isoformat()}），请审核时注意",
        )
    ]


@dataclass(frozen=True)
class RejectionReason:
    code: str
    label: str


# TRF-10: the only grounds on which the graduating county may say no. Deliberately absent: "the receiving
# province may be breaking its admission rules" and "the student's scores are too low".
REJECTION_REASONS: tuple[RejectionReason, ...] = (
    RejectionReason("IDENTITY_MISMATCH", "申请中的学生信息与毕业学籍不符（姓名、学籍号或身份证件）"),
    RejectionReason("NOT_GRADUATED", "经核查该生未取得本地毕业学籍，毕业状态有误"),
    RejectionReason("ADMITTED_LOCALLY", "该生已被本地学校录取并注册入学"),
    RejectionReason("STUDENT_DECLINED", "学生或其监护人已书面放弃到外省就学"),
    RejectionReason("PROBLEM_RECORD", "该生学籍为尚未处理完毕的问题学籍，须先处理"),
)
REJECTION_REASON_LABELS: dict[str, str] = {reason.code: reason.label for reason in REJECTION_REASONS}
