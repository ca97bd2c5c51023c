"""Errors of continuation imports, each with a stable code.

A rejected file (``IMPORT_*``) writes nothing. Problems in single rows are not errors of this kind: they
are stored on the row (``RowError`` in ``classify``) and never block the other rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from backend.domain.errors import ConflictError, ValidationError


class ImportFileError(ValidationError):
    code = "IMPORT_FILE_UNREADABLE"
    message = "无法读取该Excel文件，请确认文件未损坏且为 .xlsx 格式"


class ImportColumnsError(ValidationError):
    """The header row is not exactly the expected columns; the message names what is wrong."""

    code = "IMPORT_COLUMNS"
    message = "表头不符合要求"

    def __init__(
        self,
        message: str | None = None,
        *,
        missing: Sequence[str] = (),
        extra: Sequence[str] = (),
        duplicated: Sequence[str] = (),
        expected: Sequence[str] = (),
    ) -> None:
        self.missing = tuple(missing)
        self.extra = tuple(extra)
        self.duplicated = tuple(duplicated)
        if message is None:
            parts = []
            if self.missing:
                parts.append("缺少列：" + "、".join(f"“{c}”" for c in self.missing))
            if self.extra:
                parts.append("多余列：" + "、".join(f"“{c}”" for c in self.extra))
            if self.duplicated:
                parts.append("重复列：" + "、".join(f"“{c}”" for c in self.duplicated))
            message = "表头不符合要求（" + "；".join(parts) + "）"
            if expected:
                message += "，表头须恰为：" + "、".join(expected)
        super().__init__(message, field="file")


class ImportEmptyError(ValidationError):
    code = "IMPORT_EMPTY"
    message = "文件中没有学生数据"


class ImportTooManyRowsError(ValidationError):
    code = "IMPORT_TOO_MANY_ROWS"
    message = "文件行数过多"


class TargetStageError(ValidationError):
    code = "INVALID_TARGET_STAGE"
    message = "所选学段不能办理学籍接续"


class RowStateError(ConflictError):
    code = "ROW_STATE"
    message = "该行当前状态不能执行此操作"


class NotACandidateError(ValidationError):
    code = "NOT_A_CANDIDATE"
    message = "所选学籍不在该行的待确认名单中"
