"""Stored files (photos, proof material, uploaded imports), addressed by content hash.

The bytes live in the attachment store (a local directory by default); the row records who uploaded what
for which unit, so that only callers within that unit's jurisdiction may read it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Id, TreePath, UTCDateTime


class Attachment(Base):
    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int] = mapped_column(Id, ForeignKey("unit.id"))
    unit_path: Mapped[str] = mapped_column(TreePath, index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(Id, ForeignKey("app_user.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
