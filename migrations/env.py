"""Alembic environment: the models' metadata, an async engine, batch mode on SQLite.

Two ways in. ``backend/migrate.py`` opens the connection itself on the caller's event loop and passes it
in ``config.attributes["connection"]``; we migrate on it and never start a loop of our own. The ``alembic``
command line (and ``make_revision``) pass nothing; we then read the URL from the config or from
``XUEJI_DATABASE_URL`` and drive an async engine with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from alembic.operations.ops import (
    CreateIndexOp,
    DropIndexOp,
    DropTableOp,
    MigrateOperation,
    MigrationScript,
    ModifyTableOps,
)
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator

from backend.config import load_settings
from backend.db import make_engine
from backend.models import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or load_settings().database_url


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render types the way a revision can run them whatever backend it was generated against.

    Our TypeDecorators (``UTCDateTime``) become their plain SQL type: a revision must keep working after
    the models change, so it never imports ``backend``. ``JSONB`` inside a variant is rendered by the
    generating backend's rules, and SQLite's leave ``Text`` without its ``sa.`` prefix.
    """
    if type_ == "type" and isinstance(obj, JSONB):
        if autogen_context.imports is not None:
            autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "postgresql.JSONB(astext_type=sa.Text())"
    if type_ == "type" and isinstance(obj, TypeDecorator):
        impl = obj.impl_instance
        if type(impl).__module__ == "sqlalchemy.sql.sqltypes":
            return f"sa.{impl!r}"
    return False


def _tidy_autogenerate(
    migration_context: MigrationContext, revision: Any, directives: list[MigrationScript]
) -> None:
    """Shape what autogenerate writes; write no file when it finds nothing.

    Batch mode wraps every table change in ``batch_alter_table``; creating or dropping an index needs no
    table copy even on SQLite, so those come out as plain ``op.create_index``. Indexes of a table that is
    dropped anyway are not dropped one by one first.
    """
    autogenerate = config.attributes.get("autogenerate") or getattr(config.cmd_opts, "autogenerate", False)
    if not autogenerate or not directives:
        return
    script = directives[0]
    if all(ops.is_empty() for ops in script.upgrade_ops_list):
        directives[:] = []
        print("No changes in schema detected; no revision written.")
        return
    for ops in [*script.upgrade_ops_list, *script.downgrade_ops_list]:
        ops.ops = _unbatch_index_ops(ops.ops)


def _unbatch_index_ops(ops: list[MigrateOperation]) -> list[MigrateOperation]:
    dropped = {op.table_name for op in ops if isinstance(op, DropTableOp)}
    result: list[MigrateOperation] = []
    for op in ops:
        if isinstance(op, ModifyTableOps) and all(
            isinstance(sub, CreateIndexOp | DropIndexOp) for sub in op.ops
        ):
            if op.table_name not in dropped:
                result.extend(op.ops)
        else:
            result.append(op)
    return result


def _configure_options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        # SQLite can alter little in place; batch mode copies the table instead.
        "render_as_batch": dialect_name == "sqlite",
        "compare_type": True,
        "render_item": _render_item,
        "process_revision_directives": _tidy_autogenerate,
    }


def run_migrations_offline() -> None:
    """Emit SQL instead of running it (``alembic upgrade head --sql``)."""
    url = _database_url()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_configure_options("sqlite" if url.startswith("sqlite") else "postgresql"),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    context.configure(connection=connection, **_configure_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    engine = make_engine(_database_url())
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run_on)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
    else:
        asyncio.run(_run_with_own_engine())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
