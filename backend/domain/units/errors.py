"""Errors of organisation-tree administration."""

from __future__ import annotations

from backend.domain.errors import ConflictError, ValidationError


class UnitCodeTakenError(ConflictError):
    code = "UNIT_CODE_TAKEN"
    message = "该代码已被其他单位使用"


class InvalidUnitCodeError(ValidationError):
    code = "INVALID_UNIT_CODE"
    message = "代码格式不正确：教育行政部门为6位行政区划码，学校为10位学校标识码"


class InvalidUnitPlacementError(ValidationError):
    code = "INVALID_UNIT_PLACEMENT"
    message = "该类型的单位不能设在所选上级单位之下"


class InvalidSchoolProfileError(ValidationError):
    code = "INVALID_SCHOOL_PROFILE"
    message = "学校须选择学段；含小学或初中学段的学校须选择学制"
