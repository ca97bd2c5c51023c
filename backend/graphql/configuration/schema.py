"""Configuration over GraphQL: controlled fields (CHG-1, CFG-3), province windows and switches (CFG-2).

Declaring and removing a controlled field always concerns the caller's own level, so those mutations
name no unit. Units above the caller (the declaring department of an inherited field, the caller's
province) are shown as ``UnitSummary`` only — name and kind — since they lie outside its jurisdiction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from backend.domain.changes.controlled_fields import (
    ControlledFieldEntry,
    ControlledFieldSource,
    ControlledFieldsView,
    add_controlled_field,
    list_controlled_fields,
    remove_controlled_field,
)
from backend.domain.permissions import Operation
from backend.domain.settings import set_province_setting
from backend.domain.settings.queries import (
    ProvinceSettingsView,
    ProvinceSettingView,
    read_province_settings,
    setting_view,
)
from backend.graphql.edge import Failed, context, parse_id, write
from backend.graphql.enums import UnitKind
from backend.graphql.errors import UserError
from backend.graphql.operations import performs
from backend.graphql.units.types import UnitType
from backend.models import Unit

strawberry.enum(
    ControlledFieldSource,
    description="受控字段的来源：关键信息（提交后始终受控）、上级部门设置、本级设置",
)


@strawberry.type(description="单位的名称与类型（可为管辖范围以外的上级单位）")
class UnitSummary:
    id: strawberry.ID
    name: str
    kind: UnitKind

    @classmethod
    def from_model(cls, unit: Unit) -> UnitSummary:
        return cls(id=strawberry.ID(str(unit.id)), name=unit.name, kind=unit.kind)


@strawberry.type(description="学籍信息中的一个字段")
class RecordField:
    key: str = strawberry.field(description="字段代码，即修改学籍时 values 中的键")
    label: str = strawberry.field(description="字段的中文名称")


@strawberry.type(name="ControlledField", description="一个受控字段：提交后修改须经主管部门审批")
class ControlledFieldType:
    field_key: str
    label: str = strawberry.field(description="字段的中文名称")
    source: ControlledFieldSource
    declared_by: UnitSummary | None = strawberry.field(
        description="设置该受控字段的教育行政部门；关键信息为空"
    )
    declared_at: datetime | None
    removable: bool = strawberry.field(description="为真时当前用户可在本级取消该受控字段")

    @classmethod
    def from_entry(cls, entry: ControlledFieldEntry) -> ControlledFieldType:
        return cls(
            field_key=entry.field_key,
            label=entry.label_zh,
            source=entry.source,
            declared_by=None if entry.declared_by is None else UnitSummary.from_model(entry.declared_by),
            declared_at=entry.declared_at,
            removable=entry.removable,
        )


@strawberry.type(description="一个单位的受控字段：关键信息、上级部门设置的和本级设置的")
class ControlledFields:
    unit: UnitType
    fields: list[ControlledFieldType]
    effective_keys: list[str] = strawberry.field(
        description="在该单位（或其直属学校）提交后须经审批才能修改的全部字段代码"
    )
    can_manage: bool = strawberry.field(description="为真时当前用户可为该单位设置或取消受控字段")
    declarable_fields: list[RecordField] = strawberry.field(
        description="该单位还可设为受控字段的字段（仅对可设置的用户列出）"
    )

    @classmethod
    def from_view(cls, view: ControlledFieldsView) -> ControlledFields:
        return cls(
            unit=UnitType.from_model(view.unit),
            fields=[ControlledFieldType.from_entry(entry) for entry in view.fields],
            effective_keys=sorted(view.effective_keys),
            can_manage=view.can_manage,
            declarable_fields=[RecordField(key=spec.key, label=spec.label_zh) for spec in view.declarable],
        )


@strawberry.type(name="ProvinceSetting", description="省级业务时间或业务开关的一项")
class ProvinceSettingType:
    key: str = strawberry.field(description="设置项代码，如 window.primary_new")
    label: str = strawberry.field(description="设置项的中文名称")
    value: Any = strawberry.field(graphql_type=JSON, description="当前生效的值")
    default_value: Any = strawberry.field(graphql_type=JSON, description="全国默认值")
    is_default: bool = strawberry.field(description="为真时本省未设置该项，沿用全国默认值")

    @classmethod
    def from_view(cls, view: ProvinceSettingView) -> ProvinceSettingType:
        return cls(
            key=view.key,
            label=view.label_zh,
            value=view.value,
            default_value=view.default,
            is_default=view.is_default,
        )


@strawberry.type(description="一个省的全部业务时间与业务开关")
class ProvinceSettings:
    province: UnitSummary
    settings: list[ProvinceSettingType]

    @classmethod
    def from_view(cls, view: ProvinceSettingsView) -> ProvinceSettings:
        return cls(
            province=UnitSummary.from_model(view.province),
            settings=[ProvinceSettingType.from_view(setting) for setting in view.settings],
        )


@strawberry.type
class ControlledFieldPayload:
    errors: list[UserError]
    controlled_field: ControlledFieldType | None = None


@strawberry.type
class ProvinceSettingPayload:
    errors: list[UserError]
    setting: ProvinceSettingType | None = None


def _field_payload(result: ControlledFieldEntry | Failed) -> ControlledFieldPayload:
    if isinstance(result, Failed):
        return ControlledFieldPayload(errors=result.errors)
    return ControlledFieldPayload(errors=[], controlled_field=ControlledFieldType.from_entry(result))


@strawberry.type
class ConfigurationQueries:
    @strawberry.field(
        description="单位的受控字段（不填 unitId 为本单位）：本级设置的、上级部门设置的及关键信息",
        metadata=performs(Operation.VIEW_CONFIGURATION),
    )
    async def controlled_fields(self, info: Info, unit_id: strawberry.ID | None = None) -> ControlledFields:
        ctx = context(info)
        view = await ctx.query(
            list_controlled_fields, None if unit_id is None else parse_id(unit_id, "unitId")
        )
        return ControlledFields.from_view(view)

    @strawberry.field(
        description="省级业务时间与业务开关（不填 provinceId 为本单位所在省），未设置的项为全国默认值",
        metadata=performs(Operation.VIEW_CONFIGURATION),
    )
    async def province_settings(
        self, info: Info, province_id: strawberry.ID | None = None
    ) -> ProvinceSettings:
        ctx = context(info)
        view = await ctx.query(
            read_province_settings, None if province_id is None else parse_id(province_id, "provinceId")
        )
        return ProvinceSettings.from_view(view)


@strawberry.type
class ConfigurationMutations:
    @strawberry.mutation(
        description="将一个字段设为本级的受控字段：所辖学校提交后修改该字段须经审批",
        metadata=performs(Operation.MANAGE_CONTROLLED_FIELDS),
    )
    async def add_controlled_field(self, info: Info, field_key: str) -> ControlledFieldPayload:
        return _field_payload(
            await write(info, lambda uow, actor: add_controlled_field(uow, actor=actor, field_key=field_key))
        )

    @strawberry.mutation(
        description="取消本级设置的受控字段（上级部门设置的不能在本级取消）",
        metadata=performs(Operation.MANAGE_CONTROLLED_FIELDS),
    )
    async def remove_controlled_field(self, info: Info, field_key: str) -> ControlledFieldPayload:
        return _field_payload(
            await write(
                info, lambda uow, actor: remove_controlled_field(uow, actor=actor, field_key=field_key)
            )
        )

    @strawberry.mutation(
        description="设置本省的一项业务时间或业务开关；value 为空时恢复全国默认值",
        metadata=performs(Operation.CONFIGURE_PROVINCE),
    )
    async def set_province_setting(
        self, info: Info, province_id: strawberry.ID, key: str, value: JSON | None = None
    ) -> ProvinceSettingPayload:
        result = await write(
            info,
            lambda uow, actor: set_province_setting(
                uow, actor=actor, province_id=parse_id(province_id, "provinceId"), key=key, value=value
            ),
        )
        if isinstance(result, Failed):
            return ProvinceSettingPayload(errors=result.errors)
        return ProvinceSettingPayload(
            errors=[], setting=ProvinceSettingType.from_view(setting_view(key, result))
        )
