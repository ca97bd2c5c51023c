"""The append-only audit log (SEC-7): who did what to which target, with before and after.

Rows are written in the same transaction as the change they describe. Nothing in the application updates
or deletes them, and the migration installs triggers that make the database refuse it too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Id, Json, TreePath, UTCDateTime
from backend.models.enums import Role


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # None for the system itself (sweeps, scheduled jobs).
    user_id: Mapped[int | None] = mapped_column(Id, ForeignKey("app_user.id", ondelete="RESTRICT"))
    # The grantee when the action was taken under a delegation (SEC-2).
    delegate_id: Mapped[int | None] = mapped_column(Id, ForeignKey("app_user.id"))
    role: Mapped[Role | None] = mapped_column(Enum(Role, native_enum=False, length=32))
    unit_id: Mapped[int | None] = mapped_column(Id, ForeignKey("unit.id"))
    unit_path: Mapped[str] = mapped_column(TreePath)
    operation: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(Json)
    after: Mapped[dict[str, Any] | None] = mapped_column(Json)
    ip: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_log_unit_path_at", "unit_path", "at"),
        Index("ix_audit_log_target_type_target_id", "target_type", "target_id"),
        Index("ix_audit_log_user_id_at", "user_id", "at"),
    )
