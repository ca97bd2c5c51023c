"""Sign-in, sign-out, password change, account administration and delegation."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from backend.domain.accounts import service
from backend.domain.accounts.service import IssuedAccount, SignedIn, SignInRefused
from backend.domain.permissions import Operation
from backend.graphql.accounts.types import DelegationType, UserType
from backend.graphql.edge import Failed, context, parse_id, write, write_anonymous
from backend.graphql.enums import Role
from backend.graphql.errors import UserError
from backend.graphql.operations import PUBLIC, performs
from backend.models import User


@strawberry.type
class SessionPayload:
    errors: list[UserError]
    token: str | None = strawberry.field(
        default=None,
        description="会话令牌：以 Authorization: Bearer <token> 发送；websocket 在 connection_init 中发送",
    )
    expires_at: datetime | None = None
    password_change_required: bool = False
    user: UserType | None = None


def _session_payload(result: SignedIn | SignInRefused | Failed) -> SessionPayload:
    if isinstance(result, Failed):
        return SessionPayload(errors=result.errors)
    if isinstance(result, SignInRefused):
        return SessionPayload(errors=[UserError.from_domain(result.error)])
    return SessionPayload(
        errors=[],
        token=result.token,
        expires_at=result.expires_at,
        password_change_required=result.password_change_required,
        user=UserType.from_model(result.user),
    )


@strawberry.type
class OkPayload:
    errors: list[UserError]
    ok: bool = False


@strawberry.type
class UserPayload:
    errors: list[UserError]
    user: UserType | None = None


@strawberry.type
class IssuedAccountPayload:
    errors: list[UserError]
    user: UserType | None = None
    initial_password: str | None = strawberry.field(
        default=None, description="初始密码，只显示这一次；首次登录须修改"
    )


@strawberry.type
class DelegationPayload:
    errors: list[UserError]
    delegation: DelegationType | None = None


@strawberry.input
class CreateUserInput:
    username: str
    display_name: str
    unit_id: strawberry.ID
    roles: list[Role]
    phone: str | None = None
    email: str | None = None


@strawberry.input
class UpdateUserInput:
    user_id: strawberry.ID
    display_name: str | None = None
    phone: str | None = None
    email: str | None = None
    roles: list[Role] | None = None
    is_active: bool | None = None


@strawberry.input
class RegisterDelegationInput:
    grantor_id: strawberry.ID
    grantee_id: strawberry.ID
    starts_at: datetime
    ends_at: datetime
    reason: str


def _issued(result: IssuedAccount | Failed) -> IssuedAccountPayload:
    if isinstance(result, Failed):
        return IssuedAccountPayload(errors=result.errors)
    return IssuedAccountPayload(
        errors=[], user=UserType.from_model(result.user), initial_password=result.initial_password
    )


def _user(result: object) -> UserPayload:
    if isinstance(result, Failed):
        return UserPayload(errors=result.errors)
    return UserPayload(errors=[], user=UserType.from_model(result))  # type: ignore[arg-type]


def _delegation(result: object) -> DelegationPayload:
    if isinstance(result, Failed):
        return DelegationPayload(errors=result.errors)
    return DelegationPayload(errors=[], delegation=DelegationType.from_model(result))  # type: ignore[arg-type]


@strawberry.type
class AccountMutations:
    @strawberry.mutation(description="登录；连续5次密码错误锁定15分钟", metadata=performs(PUBLIC))
    async def login(self, info: Info, username: str, password: str) -> SessionPayload:
        ctx = context(info)
        return _session_payload(
            await write_anonymous(
                info,
                lambda uow: service.sign_in(
                    uow, username=username, password=password, ip=ctx.client_ip, user_agent=ctx.user_agent
                ),
            )
        )

    @strawberry.mutation(
        description="退出登录，当前会话令牌作废", metadata=performs(Operation.VIEW_OWN_ACCOUNT)
    )
    async def logout(self, info: Info) -> OkPayload:
        result = await write(info, lambda uow, actor: service.sign_out(uow, actor=actor))
        if isinstance(result, Failed):
            return OkPayload(errors=result.errors)
        return OkPayload(errors=[], ok=True)

    @strawberry.mutation(
        description="修改本人密码；所有旧会话作废，返回新的会话令牌",
        metadata=performs(Operation.VIEW_OWN_ACCOUNT),
    )
    async def change_password(self, info: Info, current_password: str, new_password: str) -> SessionPayload:
        ctx = context(info)
        return _session_payload(
            await write(
                info,
                lambda uow, actor: service.change_password(
                    uow,
                    actor=actor,
                    current_password=current_password,
                    new_password=new_password,
                    user_agent=ctx.user_agent,
                ),
            )
        )

    @strawberry.mutation(
        description="新建账号（初始密码随机生成）", metadata=performs(Operation.MANAGE_USERS)
    )
    async def create_user(self, info: Info, input: CreateUserInput) -> IssuedAccountPayload:
        return _issued(
            await write(
                info,
                lambda uow, actor: service.create_user(
                    uow,
                    actor=actor,
                    username=input.username,
                    display_name=input.display_name,
                    unit_id=parse_id(input.unit_id, "unitId"),
                    roles=frozenset(input.roles),
                    phone=input.phone,
                    email=input.email,
                ),
            )
        )

    @strawberry.mutation(
        description="修改账号信息、角色或停用状态", metadata=performs(Operation.MANAGE_USERS)
    )
    async def update_user(self, info: Info, input: UpdateUserInput) -> UserPayload:
        return _user(
            await write(
                info,
                lambda uow, actor: service.update_user(
                    uow,
                    actor=actor,
                    user_id=parse_id(input.user_id, "userId"),
                    display_name=input.display_name,
                    phone=input.phone,
                    email=input.email,
                    roles=None if input.roles is None else frozenset(input.roles),
                    is_active=input.is_active,
                ),
            )
        )

    @strawberry.mutation(
        description="重置密码并解锁；该账号的会话全部作废", metadata=performs(Operation.MANAGE_USERS)
    )
    async def reset_password(self, info: Info, user_id: strawberry.ID) -> IssuedAccountPayload:
        return _issued(
            await write(
                info,
                lambda uow, actor: service.reset_password(
                    uow, actor=actor, user_id=parse_id(user_id, "userId")
                ),
            )
        )

    @strawberry.mutation(description="解除账号锁定", metadata=performs(Operation.MANAGE_USERS))
    async def unlock_user(self, info: Info, user_id: strawberry.ID) -> UserPayload:
        return _user(
            await write(
                info,
                lambda uow, actor: service.unlock_user(uow, actor=actor, user_id=parse_id(user_id, "userId")),
            )
        )

    @strawberry.mutation(
        description="登记限时委托（同级系统管理员登记，代替出借密码）",
        metadata=performs(Operation.MANAGE_DELEGATIONS),
    )
    async def register_delegation(self, info: Info, input: RegisterDelegationInput) -> DelegationPayload:
        return _delegation(
            await write(
                info,
                lambda uow, actor: service.register_delegation(
                    uow,
                    actor=actor,
                    grantor_id=parse_id(input.grantor_id, "grantorId"),
                    grantee_id=parse_id(input.grantee_id, "granteeId"),
                    starts_at=input.starts_at,
                    ends_at=input.ends_at,
                    reason=input.reason,
                ),
            )
        )

    @strawberry.mutation(
        description="撤销委托；以该委托登录的会话立即作废", metadata=performs(Operation.MANAGE_DELEGATIONS)
    )
    async def revoke_delegation(self, info: Info, delegation_id: strawberry.ID) -> DelegationPayload:
        return _delegation(
            await write(
                info,
                lambda uow, actor: service.revoke_delegation(
                    uow, actor=actor, delegation_id=parse_id(delegation_id, "delegationId")
                ),
            )
        )

    @strawberry.mutation(
        description="受托人以委托人身份开始一个会话（返回新的会话令牌）",
        metadata=performs(Operation.VIEW_OWN_ACCOUNT),
    )
    async def start_delegated_session(self, info: Info, delegation_id: strawberry.ID) -> SessionPayload:
        ctx = context(info)

        async def action(uow, actor):  # type: ignore[no-untyped-def]
            token, row = await service.start_delegated_session(
                uow,
                actor=actor,
                delegation_id=parse_id(delegation_id, "delegationId"),
                user_agent=ctx.user_agent,
            )
            user = await uow.session.get(User, row.user_id)
            assert user is not None
            return SignedIn(token, user, row.expires_at, False)

        return _session_payload(await write(info, action))
