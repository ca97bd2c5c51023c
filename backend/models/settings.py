"""Provincial business windows and switches (CFG-2), stored now and administered by the config issue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Id, Json, UTCDateTime


class ProvinceSetting(Base):
    __tablename__ = "province_setting"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    province_id: Mapped[int] = mapped_column(Id, ForeignKey("unit.id"), index=True)
    key: Mapped[str] = mapped_column(String(60))
    value: Mapped[Any] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(Id, ForeignKey("app_user.id"))

    __table_args__ = (UniqueConstraint("province_id", "key"),)
