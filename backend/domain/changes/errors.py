"""Refusals of controlled-field administration (CHG-1, CFG-3), each with a stable code.

All of them concern the field named in the input, so they carry ``field="fieldKey"`` (``unitId`` for the
unit a system caller names); messages that depend on who declared a field name that unit.
"""

from __future__ import annotations

from backend.domain.errors import ValidationError


class UnknownFieldError(ValidationError):
    code = "UNKNOWN_FIELD"
    message = "学籍信息中没有这个字段"


class FieldNotControllableError(ValidationError):
    """Grade and class follow the class a record is placed in; nobody types them in (FLD)."""

    code = "NOT_CONTROLLABLE"
    message = "年级和班级随学生所在班级确定，不能设为受控字段"


class AlwaysControlledError(ValidationError):
    """Key information is controlled after submission everywhere, by rule rather than by choice (SEC-6)."""

    code = "ALWAYS_CONTROLLED"
    message = (
        "关键信息（姓名、性别、出生日期、身份证件类型、身份证件号、照片）"
        "提交后始终须经审批才能修改，无须设置，也不能取消"
    )


class AlreadyControlledError(ValidationError):
    """Declared by this level already, or in force from a level above (CHG-1)."""

    code = "ALREADY_CONTROLLED"
    message = "该字段已是受控字段"


class InheritedFieldError(ValidationError):
    """Declared by a level above: only that level may take it back (CHG-1)."""

    code = "INHERITED_FIELD"
    message = "该受控字段由上级教育行政部门设置，本级不能取消"


class NotDeclaredError(ValidationError):
    code = "NOT_DECLARED"
    message = "本级没有将该字段设为受控字段"


class NotADepartmentError(ValidationError):
    """Controlled fields are declared by education departments, never by schools (CHG-1)."""

    code = "NOT_A_DEPARTMENT"
    message = "受控字段由教育行政部门设置，学校不能设置"
