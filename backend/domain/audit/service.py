"""Writing and reading the audit log (SEC-7).

``record_audit`` is called by every service that changes something, inside the same transaction, so an
operation and its audit row commit or vanish together. The log is append-only: there is no update or
delete here, and database triggers refuse them.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, select

from backend.clock import SHANGHAI
from backend.db import UnitOfWork
from backend.domain.actor import Actor, SystemActor
from backend.domain.permissions import Operation, authorize
from backend.domain.units.repository import subtree_filter
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
) -> AuditEntry:
    """Add one audit row to the current transaction."""
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
        entry.unit_path = AUDIT_ROOT_PATH
    uow.session.add(entry)
    return entry


def audit_query(
    actor: Actor,
    *,
    unit_id: int | None = None,
    unit_path: str | None = None,
    operation: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    user_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
) -> Select[tuple[AuditEntry]]:
    """Audit rows the actor may read, newest first: department leaders within jurisdiction (SEC-7).

    ``unit_path`` narrows to a subtree that must itself lie in the actor's jurisdiction (callers resolve it).
    """
    authorize(actor, Operation.READ_AUDIT_LOG, unit_path)
    scope = unit_path if unit_path is not None else actor.unit_path
    stmt = select(AuditEntry).where(subtree_filter(AuditEntry.unit_path, scope))
    if unit_id is not None:
        stmt = stmt.where(AuditEntry.unit_id == unit_id)
    if operation:
        stmt = stmt.where(AuditEntry.operation == operation)
    if target_type:
        stmt = stmt.where(AuditEntry.target_type == target_type)
    if target_id:
        stmt = stmt.where(AuditEntry.target_id == target_id)
    if user_id is not None:
        stmt = stmt.where(AuditEntry.user_id == user_id)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= _local_midnight(since))
    if until is not None:
        stmt = stmt.where(AuditEntry.at < _local_midnight(until + timedelta(days=1)))
    return stmt


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=SHANGHAI)
