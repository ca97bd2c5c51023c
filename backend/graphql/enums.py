"""GraphQL enums: the domain's own enum classes (GLOSSARY.md names), registered with strawberry.

``strawberry.enum`` decorates a class in place, so the names exported here are the very classes the
domain uses; resolvers pass domain values straight through.
"""

from __future__ import annotations

import strawberry

from backend.domain.permissions import Operation
from backend.models.enums import (
    Gender,
    IdType,
    ProblemState,
    ProblemType,
    RecordStatus,
    Role,
    SchoolSystem,
    Stage,
    UnitKind,
)

strawberry.enum(UnitKind, description="单位类型：教育部、省、地市、区县、学校")
strawberry.enum(Stage, description="学段")
strawberry.enum(SchoolSystem, description="学制：六三制或五四制")
strawberry.enum(Role, description="角色：学籍管理员、学籍主管领导、系统管理员及平台账号类型")
strawberry.enum(Gender, description="性别")
strawberry.enum(IdType, description="身份证件类型")
strawberry.enum(RecordStatus, description="学籍状态")
strawberry.enum(Operation, description="系统中的一类操作，用于前端按权限显示功能")
strawberry.enum(ProblemType, description="问题学籍类型：身份证号错误、有身份证号重复、无身份证号重复")
strawberry.enum(ProblemState, description="问题学籍处理状态")

__all__ = [
    "Gender",
    "IdType",
    "Operation",
    "ProblemState",
    "ProblemType",
    "RecordStatus",
    "Role",
    "SchoolSystem",
    "Stage",
    "UnitKind",
]
