"""Queries on the caller's own account, on users and on delegations."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from backend.domain.accounts import queries as account_queries
from backend.domain.accounts.service import password_expires_at
from backend.domain.errors import UnauthenticatedError
from backend.domain.permissions import Operation, authorize
from backend.graphql.accounts.types import DelegationType, Me, UserType
from backend.graphql.edge import context, parse_id
from backend.graphql.operations import performs
from backend.graphql.pagination import Connection, to_connection
from backend.models.enums import Role as RoleEnum


@strawberry.type
class AccountQueries:
    @strawberry.field(
        description="当前登录人；未登录时报 UNAUTHENTICATED", metadata=performs(Operation.VIEW_OWN_ACCOUNT)
    )
    async def me(self, info: Info) -> Me:
        ctx = context(info)
        actor = await ctx.require_actor()
        authorize(actor, Operation.VIEW_OWN_ACCOUNT)
        person_id = actor.delegate_id or actor.user_id
        person = await ctx.loaders.user.load(person_id)
        if person is None:
            raise UnauthenticatedError()
        acting_for = None
        if actor.delegate_id is not None:
            grantor = await ctx.loaders.user.load(actor.user_id)
            acting_for = UserType.from_model(grantor) if grantor else None
        return Me(
            user=UserType.from_model(person),
            roles=sorted(actor.roles, key=list(RoleEnum).index),
            password_change_required=actor.password_change_required,
            password_expires_at=password_expires_at(person, ctx.runtime.settings),
            acting_for=acting_for,
            _operations=Me.operations_for(actor),
        )

    @strawberry.field(
        description="按编号查询账号；不在管辖范围内时为空", metadata=performs(Operation.VIEW_USERS)
    )
    async def user(self, info: Info, id: strawberry.ID) -> UserType | None:
        ctx = context(info)
        user = await ctx.query(account_queries.find_user, parse_id(id, "id"))
        return None if user is None else UserType.from_model(user)

    @strawberry.field(
        description="管辖范围内的账号：默认本单位；includeSubunits 为真时含全部下级单位",
        metadata=performs(Operation.VIEW_USERS),
    )
    async def users(
        self,
        info: Info,
        unit_id: strawberry.ID | None = None,
        include_subunits: bool = False,
        search: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[UserType]:
        ctx = context(info)
        page = await ctx.query(
            account_queries.list_users,
            unit_id=None if unit_id is None else parse_id(unit_id, "unitId"),
            include_subunits=include_subunits,
            search=search,
            first=first,
            after=after,
            max_page=ctx.runtime.settings.max_page_size,
        )
        return to_connection(page, UserType.from_model)

    @strawberry.field(description="本单位登记的委托", metadata=performs(Operation.MANAGE_DELEGATIONS))
    async def delegations(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[DelegationType]:
        ctx = context(info)
        page = await ctx.query(
            account_queries.list_delegations,
            first=first,
            after=after,
            max_page=ctx.runtime.settings.max_page_size,
        )
        return to_connection(page, DelegationType.from_model)

    @strawberry.field(description="委托给本人的委托", metadata=performs(Operation.VIEW_OWN_ACCOUNT))
    async def my_delegations(self, info: Info) -> list[DelegationType]:
        ctx = context(info)
        rows = await ctx.query(account_queries.my_delegations)
        return [DelegationType.from_model(row) for row in rows]
