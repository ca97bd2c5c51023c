"""Writing and reading the audit log (SEC-7).

``record_audit`` is called by every service that changes something, inside the same transaction, so an
operation and its audit row commit or vanish together. The log is append-only: there is no update or
delete here, and database triggers refuse them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import SHANGHAI
from backend.db import UnitOfWork
from backend.domain.actor import Actor, SystemActor
from backend.domain.pagination import Page, paginate
from backend.domain.permissions import Operation, authorize
from backend.domain.units.repository import subtree_filter, unit_in_jurisdiction
from backend.models import AuditEntry

AUDIT_ROOT_PATH = "/"


async def record_audit(
    uow: UnitOfWork,
    *,
    actor: Actor | SystemActor,
    operation: str,
    target_type: str,
    target_id: object | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    scope_path: str | None = None,
) -> AuditEntry:
    """Add one audit row to the current transaction.

    Rows are visible to leaders above the acting unit; an action of the system itself has no unit, so
    ``scope_path`` (the affected unit's path) decides who sees it.
    """
    entry = AuditEntry(
        at=uow.clock.now(),
        operation=operation,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        before=before,
        after=after,
    )
    if isinstance(actor, Actor):
        entry.user_id = actor.user_id
        entry.delegate_id = actor.delegate_id
        entry.role = actor.primary_role
        entry.unit_id = actor.unit_id
        entry.unit_path = actor.unit_path
        entry.ip = actor.ip
    else:
        entry.unit_path = scope_path or AUDIT_ROOT_PATH
    uow.session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditFilter:
    unit_id: int | None = None
    operation: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    user_id: int | None = None
    since: date | None = None
    until: date | None = None


async def read_audit_log(
    session: AsyncSession,
    actor: Actor,
    spec: AuditFilter,
    *,
    first: int | None,
    after: str | None,
    max_page: int,
) -> Page[AuditEntry]:
    """Audit rows, newest first, for department leaders within jurisdiction (SEC-7).

    Rows are scoped by the acting unit's path; ``unit_id`` narrows to a subtree inside the jurisdiction.
    """
    authorize(actor, Operation.READ_AUDIT_LOG)
    scope = actor.unit_path
    if spec.unit_id is not None:
        scope = (await unit_in_jurisdiction(session, actor, spec.unit_id, field="unitId")).path
    stmt = select(AuditEntry).where(subtree_filter(AuditEntry.unit_path, scope))
    if spec.operation:
        stmt = stmt.where(AuditEntry.operation == spec.operation)
    if spec.target_type:
        stmt = stmt.where(AuditEntry.target_type == spec.target_type)
    if spec.target_id:
        stmt = stmt.where(AuditEntry.target_id == spec.target_id)
    if spec.user_id is not None:
        stmt = stmt.where(AuditEntry.user_id == spec.user_id)
    if spec.since is not None:
        stmt = stmt.where(AuditEntry.at >= _local_midnight(spec.since))
    if spec.until is not None:
        stmt = stmt.where(AuditEntry.at < _local_midnight(spec.until + timedelta(days=1)))
    return await paginate(
        session, stmt, AuditEntry.id, first=first, after=after, max_page=max_page, descending=True
    )


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=SHANGHAI)
