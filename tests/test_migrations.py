"""Migrations build exactly the schema the models describe, undo cleanly, and guard the audit log.

Each test migrates its own empty database (the ``database_url`` fixture hands out one already migrated)
on whichever backend ``XUEJI_TEST_DATABASE_URL`` selects.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from backend.db import make_engine
from backend.migrate import downgrade_database, make_config, upgrade_database
from backend.models import AuditEntry, Base
from tests.conftest import _admin_execute, _url_for, is_postgres

T = TypeVar("T")

# Every column holding a materialised unit path; a new one must be added here on purpose.
TREE_PATH_COLUMNS = {
    ("unit", "path"),
    ("audit_log", "unit_path"),
    ("student_record", "unit_path"),
    ("attachment", "unit_path"),
    ("change_request", "unit_path"),
    ("continuation_import", "unit_path"),
    ("problem_record", "unit_path"),
    ("workflow_instance", "unit_path"),
    ("overdue_step", "unit_path"),
    ("status_change", "unit_path"),
    ("transfer", "receiving_path"),
    ("transfer", "sending_path"),
}


@pytest.fixture
async def empty_database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A database with nothing in it, on the backend under test."""
    if is_postgres():
        name = f"xueji_mig_{uuid.uuid4().hex[:12]}"
        await _admin_execute(f"CREATE DATABASE {name}")
        try:
            yield _url_for(name)
        finally:
            await _admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.sqlite3'}"


async def _inspect(url: str, read: Callable[[Connection], T]) -> T:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


def _schema_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    differences: list[Any] = compare_metadata(context, Base.metadata)
    return differences


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _reflected_collations(connection: Connection) -> dict[tuple[str, str], str]:
    inspector = inspect(connection)
    return {
        (table, column["name"]): collation
        for table in inspector.get_table_names()
        for column in inspector.get_columns(table)
        if (collation := getattr(column["type"], "collation", None))
    }


def _model_collations(connection: Connection) -> dict[tuple[str, str], str]:
    """The collation each model column asks for on this backend (``with_variant`` resolved)."""
    return {
        (table.name, column.name): collation
        for table in Base.metadata.tables.values()
        for column in table.columns
        if (collation := getattr(column.type.dialect_impl(connection.dialect), "collation", None))
    }


def _head() -> str | None:
    return ScriptDirectory.from_config(make_config("sqlite://")).get_current_head()


async def test_upgrade_from_empty_matches_the_models(empty_database_url: str) -> None:
    """Fails when a model changed without a migration: generate one with ``make_revision``."""
    await upgrade_database(empty_database_url)

    assert await _inspect(empty_database_url, _current_revision) == _head()
    assert await _inspect(empty_database_url, _schema_differences) == []


async def test_tree_paths_are_stored_with_bytewise_collation(empty_database_url: str) -> None:
    """Subtree range scans on materialised paths need byte order: collation "C" on PostgreSQL.

    ``compare_metadata`` ignores collations, so they are compared here.
    """
    await upgrade_database(empty_database_url)

    reflected = await _inspect(empty_database_url, _reflected_collations)
    expected = await _inspect(empty_database_url, _model_collations)

    assert reflected == expected
    if is_postgres():
        assert expected == dict.fromkeys(TREE_PATH_COLUMNS, "C")
    else:  # SQLite's default BINARY collation already compares bytes.
        assert expected == {}


async def test_downgrade_to_base_then_upgrade_again(empty_database_url: str) -> None:
    await upgrade_database(empty_database_url)

    await downgrade_database(empty_database_url, "base")

    assert await _inspect(empty_database_url, _table_names) == {"alembic_version"}
    assert await _inspect(empty_database_url, _current_revision) is None

    await upgrade_database(empty_database_url)

    assert await _inspect(empty_database_url, _current_revision) == _head()
    assert await _inspect(empty_database_url, _schema_differences) == []


REFUSED_STATEMENTS = [
    pytest.param("UPDATE audit_log SET operation = 'tampered'", id="update"),
    pytest.param("DELETE FROM audit_log WHERE operation = 'unit.created'", id="delete-where"),
    # Without a WHERE clause SQLite would truncate, were there no trigger on the table.
    pytest.param("DELETE FROM audit_log", id="delete-all"),
]
if is_postgres():
    REFUSED_STATEMENTS.append(pytest.param("TRUNCATE audit_log", id="truncate"))


@pytest.mark.parametrize("statement", REFUSED_STATEMENTS)
async def test_audit_log_refuses_update_and_delete(  # RULES: SEC-7
    empty_database_url: str, statement: str
) -> None:
    await upgrade_database(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(AuditEntry).values(
                    at=datetime(2026, 11, 25, 2, 0, tzinfo=UTC),
                    unit_path="/1/",
                    operation="unit.created",
                    target_type="Unit",
                    target_id="1",
                )
            )

        with pytest.raises(IntegrityError, match="audit_log is append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement))

        async with engine.connect() as conn:
            rows = (
                await conn.execute(select(AuditEntry.operation, func.count()).group_by(AuditEntry.operation))
            ).all()
        assert [tuple(row) for row in rows] == [("unit.created", 1)]
    finally:
        await engine.dispose()
