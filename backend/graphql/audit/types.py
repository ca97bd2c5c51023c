"""GraphQL type of an audit entry."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from backend.graphql.accounts.types import UserType
from backend.graphql.edge import context
from backend.graphql.enums import Role
from backend.models import AuditEntry as AuditEntryModel


@strawberry.type(description="一条审计记录：谁、何时、以何角色、在哪个单位、对什么做了什么")
class AuditEntry:
    id: strawberry.ID
    at: datetime
    role: Role | None
    unit_id: strawberry.ID | None
    operation: str
    target_type: str
    target_id: str | None
    before: dict[str, Any] | None = strawberry.field(graphql_type=Optional[JSON])  # noqa: UP045
    after: dict[str, Any] | None = strawberry.field(graphql_type=Optional[JSON])  # noqa: UP045
    _user_id: strawberry.Private[int | None]
    _delegate_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, row: AuditEntryModel) -> AuditEntry:
        return cls(
            id=strawberry.ID(str(row.id)),
            at=row.at,
            role=row.role,
            unit_id=None if row.unit_id is None else strawberry.ID(str(row.unit_id)),
            operation=row.operation,
            target_type=row.target_type,
            target_id=row.target_id,
            before=row.before,
            after=row.after,
            _user_id=row.user_id,
            _delegate_id=row.delegate_id,
        )

    @strawberry.field(description="操作人；系统自动操作时为空")
    async def user(self, info: Info) -> UserType | None:
        if self._user_id is None:
            return None
        user = await context(info).loaders.user.load(self._user_id)
        return None if user is None else UserType.from_model(user)

    @strawberry.field(description="委托办理时的受托人（实际操作人）")
    async def delegate(self, info: Info) -> UserType | None:
        if self._delegate_id is None:
            return None
        user = await context(info).loaders.user.load(self._delegate_id)
        return None if user is None else UserType.from_model(user)
