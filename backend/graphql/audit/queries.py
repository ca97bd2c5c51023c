"""The audit log, for department leaders within their jurisdiction (SEC-7)."""

from __future__ import annotations

from datetime import date

import strawberry
from strawberry.types import Info

from backend.domain.audit import service as audit
from backend.domain.audit.service import read_audit_log
from backend.domain.permissions import Operation
from backend.graphql.audit.types import AuditEntry
from backend.graphql.edge import context, parse_id
from backend.graphql.operations import performs
from backend.graphql.pagination import Connection, to_connection


@strawberry.input
class AuditFilter:
    unit_id: strawberry.ID | None = strawberry.field(default=None, description="只看该单位及其下级单位的操作")
    operation: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    user_id: strawberry.ID | None = None
    since: date | None = None
    until: date | None = None


@strawberry.type
class AuditQueries:
    @strawberry.field(description="审计日志，新的在前", metadata=performs(Operation.READ_AUDIT_LOG))
    async def audit_log(
        self,
        info: Info,
        filter: AuditFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[AuditEntry]:
        ctx = context(info)
        f = filter or AuditFilter()
        page = await ctx.query(
            read_audit_log,
            audit.AuditFilter(
                unit_id=None if f.unit_id is None else parse_id(f.unit_id, "unitId"),
                operation=f.operation,
                target_type=f.target_type,
                target_id=f.target_id,
                user_id=None if f.user_id is None else parse_id(f.user_id, "userId"),
                since=f.since,
                until=f.until,
            ),
            first=first,
            after=after,
            max_page=ctx.runtime.settings.max_page_size,
        )
        return to_connection(page, AuditEntry.from_model)
