"""GraphQL types of accounts, sessions and delegations."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from backend.domain.actor import Actor
from backend.domain.permissions import may
from backend.graphql.edge import context
from backend.graphql.enums import Operation, Role
from backend.graphql.units.types import UnitType
from backend.models import Delegation as DelegationModel
from backend.models import User as UserModel


@strawberry.type(name="User", description="系统账号")
class UserType:
    id: strawberry.ID
    username: str
    display_name: str
    phone: str | None
    email: str | None
    is_active: bool
    must_change_password: bool
    locked_until: datetime | None
    last_sign_in_at: datetime | None
    password_changed_at: datetime
    created_at: datetime
    _unit_id: strawberry.Private[int]
    _user_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, user: UserModel) -> UserType:
        return cls(
            id=strawberry.ID(str(user.id)),
            username=user.username,
            display_name=user.display_name,
            phone=user.phone,
            email=user.email,
            is_active=user.is_active,
            must_change_password=user.must_change_password,
            locked_until=user.locked_until,
            last_sign_in_at=user.last_sign_in_at,
            password_changed_at=user.password_changed_at,
            created_at=user.created_at,
            _unit_id=user.unit_id,
            _user_id=user.id,
        )

    @strawberry.field
    async def unit(self, info: Info) -> UnitType:
        unit = await context(info).loaders.unit.load(self._unit_id)
        assert unit is not None
        return UnitType.from_model(unit)

    @strawberry.field
    async def roles(self, info: Info) -> list[Role]:
        return list(await context(info).loaders.roles.load(self._user_id))


@strawberry.type(description="当前登录人")
class Me:
    user: UserType
    roles: list[Role]
    password_change_required: bool = strawberry.field(
        description="为真时须先修改密码（首次登录、重置或过期），其他操作均被拒绝"
    )
    password_expires_at: datetime
    acting_for: UserType | None = strawberry.field(
        description="委托登录时为委托人（本人以其身份办理业务），否则为空"
    )

    @strawberry.field(description="本人可执行的操作，供前端显示菜单")
    def operations(self) -> list[Operation]:
        return self._operations

    _operations: strawberry.Private[list[Operation]]

    @staticmethod
    def operations_for(actor: Actor) -> list[Operation]:
        return [op for op in Operation if may(actor, op)]


@strawberry.type(name="Delegation", description="经系统管理员登记的限时委托（代替出借密码）")
class DelegationType:
    id: strawberry.ID
    reason: str
    starts_at: datetime
    ends_at: datetime
    revoked_at: datetime | None
    created_at: datetime
    _grantor_id: strawberry.Private[int]
    _grantee_id: strawberry.Private[int]
    _registered_by_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, row: DelegationModel) -> DelegationType:
        return cls(
            id=strawberry.ID(str(row.id)),
            reason=row.reason,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            revoked_at=row.revoked_at,
            created_at=row.created_at,
            _grantor_id=row.grantor_id,
            _grantee_id=row.grantee_id,
            _registered_by_id=row.registered_by_id,
        )

    async def _user(self, info: Info, user_id: int) -> UserType:
        user = await context(info).loaders.user.load(user_id)
        assert user is not None
        return UserType.from_model(user)

    @strawberry.field
    async def grantor(self, info: Info) -> UserType:
        return await self._user(info, self._grantor_id)

    @strawberry.field
    async def grantee(self, info: Info) -> UserType:
        return await self._user(info, self._grantee_id)

    @strawberry.field
    async def registered_by(self, info: Info) -> UserType:
        return await self._user(info, self._registered_by_id)
