"""Bring a database to the newest schema (temporary: replaced by Alembic)."""

from __future__ import annotations

from backend.db import make_engine
from backend.models import Base


async def upgrade_database(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await engine.dispose()
