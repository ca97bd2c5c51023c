"""GraphQL enums: the domain's own enum classes (GLOSSARY.md names), registered with strawberry.

``strawberry.enum`` decorates a class in place, so the names exported here are the very classes the
domain uses; resolvers pass domain values straight through.
"""

from __future__ import annotations

import strawberry

from backend.domain.permissions import Operation
from backend.models.enums import (
    BusinessState,
    Gender,
    IdType,
    NumberKind,
    ProblemState,
    ProblemType,
    RecordStatus,
    RegistrationKind,
    RegistrationState,
    Role,
    SchoolSystem,
    Stage,
    StatusChangeType,
    TransferKind,
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
strawberry.enum(NumberKind, description="学籍号类型：G、J 为正式学籍号，L 为临时学籍号")
strawberry.enum(RegistrationKind, description="注册类型：在校生、小学新生、来华归国、非一年级新增、接续")
strawberry.enum(RegistrationState, description="注册状态：草稿、核办中、退回、已注册、已删除")
strawberry.enum(
    StatusChangeType,
    description="学籍异动类型：休学、复学、留级、跳级、辍学、死亡、出国（境）、退学、开除、其他离校",
)
strawberry.enum(BusinessState, description="异动、转学业务状态：审核中、待调档、已办结、退回、撤回、已取消")
strawberry.enum(TransferKind, description="转学或毕业后跨省就学")

__all__ = [
    "BusinessState",
    "Gender",
    "IdType",
    "NumberKind",
    "Operation",
    "ProblemState",
    "ProblemType",
    "RecordStatus",
    "RegistrationKind",
    "RegistrationState",
    "Role",
    "SchoolSystem",
    "Stage",
    "StatusChangeType",
    "TransferKind",
    "UnitKind",
]
