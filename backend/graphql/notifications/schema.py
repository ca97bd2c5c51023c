"""The caller's notifications and live to-do: a list, a read mark, and two subscriptions.

``notifications(after:)`` first replays what the client missed since its cursor (the last ``seq`` it saw),
then streams new ones as they commit, in ``seq`` order and never twice; if rows after the cursor were
removed by retention it sends one item with ``resync: true`` (reload, then continue from its ``seq``).
``todoChanged`` sends the to-do count and its first page now and after every change. Neither trusts the
broadcast: ``notifications`` goes live on the process's feed (``realtime.feed``: batched reads on every
wake-up, a poll, a re-read after a Redis outage), ``todoChanged`` re-reads on every wake-up and every few
seconds without one (``realtime.wakeups``), so a lost wake-up delays but never loses anything. Both
re-check the session when it may have changed (``session_watch``), so a sign-out, an expiry, the idle
timeout or a role change ends the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any, Optional

import strawberry
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from backend.domain.actor import Actor
from backend.domain.notifications.log import mark_read, since
from backend.domain.permissions import Operation, authorize
from backend.domain.workflows.policy import business_roles
from backend.domain.workflows.queries import to_do_count
from backend.graphql.edge import context, write
from backend.graphql.errors import UserError
from backend.graphql.live import current_operation
from backend.graphql.notifications.live_feed import GETTERS, go_live
from backend.graphql.operations import performs
from backend.graphql.projection import projection
from backend.graphql.session_watch import SessionWatch
from backend.graphql.workflows.schema import ToDoItem, WorkflowStepType, WorkflowType, to_do_page
from backend.models import Notification
from backend.realtime.wakeups import POLL_SECONDS, auth_key

PAGE = 100
TODO_ITEMS = 20


@strawberry.type(name="Notification", description="一条通知：待办、审批结果、期限提醒、公告等")
class NotificationType:
    seq: int = strawberry.field(description="本人通知的序号（1、2、3……），断线重连时作为 after 传回")
    kind: str | None
    payload: dict[str, Any] | None = strawberry.field(graphql_type=Optional[JSON])  # noqa: UP045
    created_at: datetime | None
    resync: bool = strawberry.field(
        default=False, description="为真时表示游标之后的通知已过保留期：请重新加载，再从本条 seq 继续"
    )

    @classmethod
    def from_model(cls, row: Notification | Row[Any]) -> NotificationType:
        return cls(seq=row.seq, kind=row.kind, payload=dict(row.payload), created_at=row.created_at)


@strawberry.type(description="待办数量和最前面的待办")
class ToDoSnapshot:
    count: int
    items: list[ToDoItem]


@strawberry.type
class ReadMarkPayload:
    errors: list[UserError]
    marked: int = 0


async def _backlog(session: AsyncSession, actor: Actor, after: int) -> Any:
    authorize(actor, Operation.VIEW_OWN_ACCOUNT)
    return await since(session, actor.user_id, after, limit=PAGE)


async def _snapshot(session: AsyncSession, actor: Actor, info: Info) -> ToDoSnapshot:
    page = await to_do_page(session, actor, info, first=TODO_ITEMS, after=None, max_page=TODO_ITEMS)
    return ToDoSnapshot(
        count=await to_do_count(session, actor),
        items=[
            ToDoItem(
                workflow=WorkflowType.from_model(item.instance),
                step=WorkflowStepType.from_model(item.step),
                due_on=item.due_on,
                working_days_left=item.working_days_left,
            )
            for item in page.items
        ],
    )


@strawberry.type
class NotificationQueries:
    @strawberry.field(
        description="我的通知：序号在 after 之后的，按序号先后", metadata=performs(Operation.VIEW_OWN_ACCOUNT)
    )
    async def notifications(self, info: Info, after: int = 0) -> list[NotificationType]:
        backlog = await context(info).query(_backlog, after)
        if backlog.resync:
            highest = backlog.items[-1].seq if backlog.items else after
            return [NotificationType(seq=highest, kind=None, payload=None, created_at=None, resync=True)]
        return [NotificationType.from_model(row) for row in backlog.items]


@strawberry.type
class NotificationMutations:
    @strawberry.mutation(
        description="将序号不大于 upTo 的通知标为已读", metadata=performs(Operation.VIEW_OWN_ACCOUNT)
    )
    async def mark_notifications_read(self, info: Info, up_to: int) -> ReadMarkPayload:
        result = await write(info, lambda uow, actor: mark_read(uow, actor, up_to))
        if isinstance(result, int):
            return ReadMarkPayload(errors=[], marked=result)
        return ReadMarkPayload(errors=result.errors)


@strawberry.type
class NotificationSubscriptions:
    @strawberry.subscription(
        description="我的通知：先补发 after 之后错过的，再实时推送；不重复、不遗漏",
        metadata=performs(Operation.VIEW_OWN_ACCOUNT),
    )
    async def notifications(self, info: Info, after: int = 0) -> AsyncGenerator[NotificationType, None]:
        ctx = context(info)
        watch = await SessionWatch.begin(ctx)
        cursor = max(after, 0)
        while True:  # catch-up, executed like any query
            backlog = await ctx.query(_backlog, cursor)
            await ctx.end_reads()
            if backlog.resync:
                cursor = backlog.items[-1].seq if backlog.items else cursor
                yield NotificationType(seq=cursor, kind=None, payload=None, created_at=None, resync=True)
                continue
            for row in backlog.items:
                cursor = row.seq
                yield NotificationType.from_model(row)
            if len(backlog.items) < PAGE:
                break
        # Live: the process's feed reads for every subscription at once. A selection that compiles is
        # sent from a projection without a task (live_feed); any other keeps this task and is executed.
        live, project = current_operation.get(), projection(info, GETTERS)
        if live is not None and project is not None:
            go_live(ctx.runtime.feed, live, watch, cursor, project)
            return
        async with ctx.runtime.feed.subscribe(watch.actor.user_id, cursor, watch.lapses_at) as sub:
            while True:
                await sub.wait()
                if sub.attention:  # its user's sessions changed, or its own may have lapsed
                    sub.attention = False
                    await watch.check()
                    sub.lapses_at = watch.lapses_at
                rows, resync = sub.take()
                if resync:
                    yield NotificationType(
                        seq=sub.cursor, kind=None, payload=None, created_at=None, resync=True
                    )
                else:
                    for row in rows:
                        yield NotificationType.from_model(row)
                ctx.runtime.feed.taken(sub)

    @strawberry.subscription(
        description="我的待办：当前数量和最前面的待办，之后每有变化推送一次",
        metadata=performs(Operation.ACT_ON_WORKFLOWS),
    )
    async def todo_changed(self, info: Info) -> AsyncGenerator[ToDoSnapshot, None]:
        ctx = context(info)
        watch = await SessionWatch.begin(ctx)
        actor = watch.actor
        authorize(actor, Operation.ACT_ON_WORKFLOWS)
        keys = [f"unit:{actor.unit_id}:{role}" for role in sorted(business_roles(actor))]
        wakeups = ctx.runtime.wakeups
        last: tuple[int, list[str]] | None = None
        with (
            wakeups.waiter(*keys, f"user:{actor.user_id}", auth_key(actor.user_id)) as woken,
            wakeups.waiter(auth_key(actor.user_id)) as signed,
        ):
            while True:
                snapshot = await ctx.query(_snapshot, info)
                await ctx.end_reads()
                seen = (snapshot.count, [f"{i.workflow.id}:{i.workflow.version}" for i in snapshot.items])
                if seen != last:  # only changes are sent; the poll finds nothing new most of the time
                    last = seen
                    yield snapshot
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(watch.seconds_left(), POLL_SECONDS)):
                        await woken.wait()
                woken.clear()
                if signed.is_set() or watch.lapsed():
                    signed.clear()
                    await watch.check()
