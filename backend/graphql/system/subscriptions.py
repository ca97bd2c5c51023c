"""``serverTime``: the smallest authenticated subscription, proving the websocket path end to end.

The caller is authenticated in ``connection_init`` (see ``view.py``) and re-checked on every tick, so a
revoked or expired session ends the stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.types import Info

from backend.domain.permissions import Operation, authorize
from backend.graphql.edge import context
from backend.graphql.operations import performs


@strawberry.type
class SystemSubscriptions:
    @strawberry.subscription(
        description="服务器时间（北京时间），每隔 intervalSeconds 秒推送一次；会话失效即结束",
        metadata=performs(Operation.VIEW_OWN_ACCOUNT),
    )
    async def server_time(
        self, info: Info, interval_seconds: int = 1, count: int | None = None
    ) -> AsyncGenerator[datetime, None]:
        ctx = context(info)
        interval = min(max(interval_seconds, 1), 60)
        sent = 0
        while count is None or sent < count:
            await ctx.forget_actor()
            try:
                actor = await ctx.require_actor()
            finally:
                await ctx.end_reads()
            authorize(actor, Operation.VIEW_OWN_ACCOUNT)
            yield ctx.runtime.clock.now()
            sent += 1
            if count is None or sent < count:
                await asyncio.sleep(interval)
