"""Days that differ from the plain week (holidays, 调休 make-up workdays), maintained per year.

The ``chinesecalendar`` package supplies 2004–2026; later years come from the State Council notice,
entered by a system administrator. A year listed in ``calendar_year`` is complete: unlisted days follow
Monday–Friday. A year nobody entered is unknown, and asking about it is an error, never a guess.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, Id, UTCDateTime


class CalendarYear(Base):
    __tablename__ = "calendar_year"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    notice: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(Id, ForeignKey("app_user.id"))


class CalendarDay(Base):
    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(50))
    year: Mapped[int] = mapped_column(
        Integer, ForeignKey("calendar_year.year", ondelete="CASCADE"), index=True
    )
