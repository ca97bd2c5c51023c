"""Shared fixtures: a fresh, migrated database per test on SQLite or PostgreSQL, a movable clock.

``XUEJI_TEST_DATABASE_URL`` selects PostgreSQL (``postgresql+asyncpg://…``); the default is SQLite. Each
test gets its own database cloned from a template built once per run (a file copy on SQLite, ``CREATE
DATABASE … TEMPLATE`` on PostgreSQL), so tests can commit freely and never see each other's data.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from backend.clock import SHANGHAI, FixedClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.migrate import upgrade_database
from tests.api import Api, serve_api

TEST_DATABASE_URL = os.environ.get("XUEJI_TEST_DATABASE_URL", "")
TEST_BROADCAST_URL = os.environ.get("XUEJI_TEST_BROADCAST_URL", "memory://")
# Unique per run, so that two runs against one server (a developer and CI) never share a template.
RUN_ID = uuid.uuid4().hex[:8]
TEMPLATE_DB = f"xueji_test_template_{RUN_ID}"

# 2026-11-25 10:00 Asia/Shanghai: a Wednesday working day.
DEFAULT_NOW = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)


def is_postgres() -> bool:
    return TEST_DATABASE_URL.startswith("postgresql")


async def _admin_execute(statement: str) -> None:
    admin = create_async_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await admin.dispose()


def _url_for(database: str) -> str:
    return make_url(TEST_DATABASE_URL).set(database=database).render_as_string(hide_password=False)


# Per-test databases are dropped together when the run ends, not each as its test ends. A database is some
# 1,100 files (mostly its own copy of the system catalogs), and a file system may refuse to reuse an inode
# freed moments ago: ext4 without a journal skips every inode freed in the last minute, searching past each
# one, so CREATE DATABASE right after DROP DATABASE spent 0.3-0.5 s of kernel time creating its files
# instead of 0.04 s. Kept databases take about 10 MB of disk each; past ``KEPT_DATABASES`` the oldest is
# dropped at once (the suite needs fewer than 1,500).
KEPT_DATABASES = int(os.environ.get("XUEJI_TEST_KEPT_DATABASES", "1500"))


class SpentDatabases:
    """Databases of finished tests, dropped when the run ends (or past ``KEPT_DATABASES``)."""

    def __init__(self) -> None:
        self.names: deque[str] = deque()

    async def add(self, name: str) -> None:
        self.names.append(name)
        while len(self.names) > KEPT_DATABASES:
            await _admin_execute(f"DROP DATABASE IF EXISTS {self.names.popleft()} WITH (FORCE)")

    async def drop_all(self) -> None:
        if not self.names:
            return
        admin = create_async_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT", pool_size=4)
        names = self.names

        async def drop_some() -> None:
            async with admin.connect() as conn:
                while names:
                    await conn.execute(text(f"DROP DATABASE IF EXISTS {names.popleft()} WITH (FORCE)"))

        try:
            await asyncio.gather(*(drop_some() for _ in range(4)))
        finally:
            await admin.dispose()


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xueji")


@pytest.fixture(scope="session")
async def spent_databases() -> AsyncIterator[SpentDatabases]:
    spent = SpentDatabases()
    try:
        yield spent
    finally:
        await spent.drop_all()


@pytest.fixture(scope="session")
async def template_url(tmp_root: Path) -> AsyncIterator[str]:
    """Build the migrated template database once per run."""
    if is_postgres():
        await _admin_execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")
        await _admin_execute(f"CREATE DATABASE {TEMPLATE_DB}")
        url = _url_for(TEMPLATE_DB)
        await upgrade_database(url)
        yield url
        await _admin_execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")
    else:
        path = tmp_root / "template.sqlite3"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade_database(url)
        yield url


@pytest.fixture
async def database_url(
    template_url: str, tmp_path: Path, spent_databases: SpentDatabases
) -> AsyncIterator[str]:
    """A fresh copy of the template for one test."""
    if is_postgres():
        name = f"xueji_t_{uuid.uuid4().hex[:12]}"
        await _admin_execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
        yield _url_for(name)
        await spent_databases.add(name)
    else:
        source = Path(make_url(template_url).database or "")
        target = tmp_path / "test.sqlite3"
        shutil.copyfile(source, target)
        yield f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(DEFAULT_NOW)


@pytest.fixture
def base_settings(tmp_path: Path) -> Settings:
    """Test settings without a database: cheap argon2 so the suite stays fast; everything else as shipped.

    ``settings`` adds a fresh migrated database, ``api_settings`` the demo province instead; an API test
    asks for the second only, so that it does not clone (and drop) a database it never opens.
    """
    return replace(
        Settings(var_dir=tmp_path / "var", secret_key="test-secret-" + "x" * 40),
        broadcast_url=TEST_BROADCAST_URL,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        attachment_dir=tmp_path / "attachments",
        scheduler_enabled=False,  # tests run the jobs themselves (tests/test_jobs.py)
    )


@pytest.fixture
def settings(base_settings: Settings, database_url: str) -> Settings:
    """Test settings over a fresh, migrated database."""
    return replace(base_settings, database_url=database_url)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def uow(db: Database, clock: FixedClock, settings: Settings) -> AsyncIterator[UnitOfWork]:
    """One open transaction, committed when the test ends without error."""
    async with db.unit_of_work(clock, settings) as unit_of_work:
        yield unit_of_work


# --- a database with the demo province loaded, for API tests ------------------------------------------

DEMO_TEMPLATE_DB = f"xueji_test_demo_{RUN_ID}"


@pytest.fixture(scope="session")
async def demo_template_url(template_url: str, tmp_root: Path) -> AsyncIterator[str]:
    """The migrated template plus the demo province, built once per run."""
    from backend.demo import load_demo

    if is_postgres():
        await _admin_execute(f"DROP DATABASE IF EXISTS {DEMO_TEMPLATE_DB} WITH (FORCE)")
        await _admin_execute(f"CREATE DATABASE {DEMO_TEMPLATE_DB} TEMPLATE {TEMPLATE_DB}")
        url = _url_for(DEMO_TEMPLATE_DB)
    else:
        path = tmp_root / "demo-template.sqlite3"
        shutil.copyfile(Path(make_url(template_url).database or ""), path)
        url = f"sqlite+aiosqlite:///{path}"
    database = Database(url)
    settings = replace(
        Settings(var_dir=tmp_root / "var", secret_key="t" * 48), argon2_time_cost=1, argon2_memory_kib=1024
    )
    async with database.unit_of_work(FixedClock(DEFAULT_NOW), settings) as uow:
        await load_demo(uow)
    await database.dispose()
    yield url
    if is_postgres():
        await _admin_execute(f"DROP DATABASE IF EXISTS {DEMO_TEMPLATE_DB} WITH (FORCE)")


@pytest.fixture
async def demo_database_url(
    demo_template_url: str, tmp_path: Path, spent_databases: SpentDatabases
) -> AsyncIterator[str]:
    if is_postgres():
        name = f"xueji_d_{uuid.uuid4().hex[:12]}"
        await _admin_execute(f"CREATE DATABASE {name} TEMPLATE {DEMO_TEMPLATE_DB}")
        yield _url_for(name)
        await spent_databases.add(name)
    else:
        target = tmp_path / "demo.sqlite3"
        shutil.copyfile(Path(make_url(demo_template_url).database or ""), target)
        yield f"sqlite+aiosqlite:///{target}"


# --- the API over the demo province -------------------------------------------------------------------


@pytest.fixture
def api_settings(base_settings: Settings, demo_database_url: str) -> Settings:
    return replace(base_settings, database_url=demo_database_url)


@pytest.fixture
async def api(api_settings: Settings, clock: FixedClock) -> AsyncIterator[Api]:
    async for value in serve_api(api_settings, clock):
        yield value


@pytest.fixture
async def production_api(api_settings: Settings, clock: FixedClock) -> AsyncIterator[Api]:
    async for value in serve_api(replace(api_settings, production=True), clock):
        yield value
