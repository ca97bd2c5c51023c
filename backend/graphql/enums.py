"""GraphQL enums, the same names as the domain's (GLOSSARY.md)."""

from __future__ import annotations

import strawberry

from backend.domain.permissions import Operation as OperationEnum
from backend.models import enums

UnitKind = strawberry.enum(enums.UnitKind, description="单位类型：教育部、省、地市、区县、学校")
Stage = strawberry.enum(enums.Stage, description="学段")
SchoolSystem = strawberry.enum(enums.SchoolSystem, description="学制：六三制或五四制")
Role = strawberry.enum(enums.Role, description="角色：学籍管理员、学籍主管领导、系统管理员及平台账号类型")
Gender = strawberry.enum(enums.Gender, description="性别")
IdType = strawberry.enum(enums.IdType, description="身份证件类型")
RecordStatus = strawberry.enum(enums.RecordStatus, description="学籍状态")
Operation = strawberry.enum(OperationEnum, description="系统中的一类操作，用于前端按权限显示功能")
