"""Refusals of transfers and post-graduation cross-province study (TRF-1..11), each with a stable code.

A refusal raised before anything is written leaves the database as it was: the edge rolls the unit of
work back. Messages are for the registrar or reviewer who sees them; codes are for clients.
"""

from __future__ import annotations

from backend.domain.errors import ConflictError, NotFoundError, ValidationError

# One business per record at a time is a records rule; transfers raise it too.
from backend.domain.records.errors import RecordBusyError as RecordBusyError


class StudentNotFoundError(NotFoundError):
    """No live, formally registered record has this national number and name.

    A wrong name answers exactly like a wrong number, so the lookup never confirms a number by itself.
    """

    code = "STUDENT_NOT_FOUND"
    message = "未找到与该全国学籍号和姓名相符的学生，请核对"

    def __init__(self, message: str | None = None, *, field: str | None = "nationalNumber") -> None:
        super().__init__(message, field=field)


class NotRegisteredError(ConflictError):
    """The record is still a draft or in its registration review (REG-4): nothing to transfer yet."""

    code = "NOT_REGISTERED"
    message = "该学生学籍尚未正式注册，不能办理转学"


class TransferBlackoutError(ValidationError):
    """TRF-5: no new transfers from 7/15 00:00 to 8/14 24:00 (Asia/Shanghai)."""

    code = "TRANSFER_BLACKOUT"
    message = "每年7月15日0时至8月14日24时不受理新的转学申请"


class StudyWindowClosedError(ValidationError):
    """TRF-10: new post-graduation requests only 8/15–12/14 and 3/1–5/31 (Asia/Shanghai)."""

    code = "STUDY_WINDOW_CLOSED"
    message = "毕业后跨省就学申请只在每年8月15日至12月14日、3月1日至5月31日受理"


class ApplicationRequiredError(ValidationError):
    """TRF-1: the receiving school uploads its stamped application stating the reason."""

    code = "APPLICATION_REQUIRED"
    message = "请上传加盖学校公章、写明转学理由的转学申请"

    def __init__(self, message: str | None = None, *, field: str | None = "applicationIds") -> None:
        super().__init__(message, field=field)


class SameSchoolError(ValidationError):
    code = "SAME_SCHOOL"
    message = "该学生已在本校，无须转学；调整班级请在本校办理"

    def __init__(self, message: str | None = None, *, field: str | None = "nationalNumber") -> None:
        super().__init__(message, field=field)


class StatusNotTransferableError(ConflictError):
    """TRF-6: the record's status does not allow a transfer (the message says why and what to do)."""

    code = "STATUS_NOT_TRANSFERABLE"
    message = "该学生当前的学籍状态不能办理转学"


class ResumeFirstError(ConflictError):
    """TRF-6: a suspended student resumes at the old school first."""

    code = "RESUME_FIRST"
    message = "休学学生须先在原学校办理复学，再办理转学"


class GradeMismatchError(ValidationError):
    """TRF-8: grades map by number 1–9 across 6-3 and 5-4; another grade must be asked for explicitly."""

    code = "GRADE_MISMATCH"
    message = "转入班级的年级须与学生现年级相同；如需调整年级，请填写拟转入年级，由转入地主管部门审核"

    def __init__(self, message: str | None = None, *, field: str | None = "targetClassId") -> None:
        super().__init__(message, field=field)


class NotGraduatedError(ConflictError):
    """TRF-10: post-graduation study is for students in graduated status only."""

    code = "NOT_GRADUATED"
    message = "只有已毕业的学生才能办理毕业后跨省就学"


class NotCrossProvinceError(ValidationError):
    """TRF-10: within one province a graduate goes on through admission (GRD-7), not this business."""

    code = "NOT_CROSS_PROVINCE"
    message = "该生在本省毕业，升学请通过招生录取办理"

    def __init__(self, message: str | None = None, *, field: str | None = "nationalNumber") -> None:
        super().__init__(message, field=field)


class NotAwaitingRetrievalError(ConflictError):
    """TRF-2: file retrieval comes after every review, and only once."""

    code = "NOT_AWAITING_RETRIEVAL"
    message = "该业务当前不在调档环节"


class StudentNotReportedError(ValidationError):
    """TRF-3: the file is retrieved only for a student who has reported to the receiving school."""

    code = "STUDENT_NOT_REPORTED"
    message = "学生到校报到后方可调档"

    def __init__(self, message: str | None = None, *, field: str | None = "reported") -> None:
        super().__init__(message, field=field)


class RetrievalExpiredError(ConflictError):
    """TRF-3: the 10 working days have passed; the sweep cancels the business."""

    code = "RETRIEVAL_EXPIRED"
    message = "已超过调档期限（最后一方审核通过后10个工作日），该业务将由系统自动撤销"


class UnknownRejectionReasonError(ValidationError):
    """TRF-10: the graduating county rejects only for one of the fixed reasons."""

    code = "UNKNOWN_REJECTION_REASON"
    message = "请选择规定的不同意理由"

    def __init__(self, message: str | None = None, *, field: str | None = "reasonCode") -> None:
        super().__init__(message, field=field)


class FixedRejectionReasonRequiredError(ConflictError):
    """TRF-10: the graduating county's rejection goes through ``rejectPostGraduationStudy``."""

    code = "FIXED_REJECTION_REASON_REQUIRED"
    message = "毕业学校主管部门不同意毕业后跨省就学时，须通过“不同意跨省就学”选择规定的理由"


class TransferOutdatedError(ConflictError):
    """The record left the sending school, or was deleted, while the business was in review."""

    code = "TRANSFER_OUTDATED"
    message = "学生学籍在申请后已发生变化，本次转学不能完成，请撤回后重新申请"
