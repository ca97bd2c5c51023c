"""Bring a database to an Alembic revision, and autogenerate new revisions from the models.

Alembic commands are synchronous, and the stock async ``env.py`` drives the engine with ``asyncio.run``,
which cannot be called from a running event loop: the pytest fixtures, the async CLI and the app's
start-up all run in one. So ``upgrade_database`` opens the connection itself on the caller's loop and
runs the Alembic command inside ``AsyncConnection.run_sync``, handing the sync-facing connection to
``migrations/env.py`` through ``config.attributes["connection"]``; SQLAlchemy's greenlet bridge lets that
sync code await the driver, so no nested loop is needed. The whole upgrade is one transaction, which on
PostgreSQL makes it all-or-nothing.

The configuration is built here rather than read from ``alembic.ini``, so an installed package migrates
without any file next to it; ``alembic.ini`` at the top of the repository only serves developers who run
the ``alembic`` command directly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

import migrations
from backend.config import load_settings
from backend.db import make_engine

SCRIPT_LOCATION = Path(migrations.__file__).resolve().parent
# Doubled percent signs: Alembic's config goes through ConfigParser interpolation.
FILE_TEMPLATE = "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s"

_Command = Callable[[Connection, Config, str], None]


def make_config(url: str) -> Config:
    """An Alembic config for ``url`` pointing at the ``migrations`` package."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("file_template", FILE_TEMPLATE)
    config.set_main_option("timezone", "UTC")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    # Generated revisions get imports sorted and code formatted; ruff is a dev dependency.
    config.set_section_option("post_write_hooks", "hooks", "ruff_imports, ruff_format")
    config.set_section_option("post_write_hooks", "ruff_imports.type", "module")
    config.set_section_option("post_write_hooks", "ruff_imports.module", "ruff")
    config.set_section_option(
        "post_write_hooks", "ruff_imports.options", "check --fix --select I --quiet REVISION_SCRIPT_FILENAME"
    )
    config.set_section_option("post_write_hooks", "ruff_format.type", "module")
    config.set_section_option("post_write_hooks", "ruff_format.module", "ruff")
    config.set_section_option(
        "post_write_hooks", "ruff_format.options", "format --quiet REVISION_SCRIPT_FILENAME"
    )
    return config


async def upgrade_database(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (default: the newest)."""
    await _run_command(url, _upgrade, revision)


async def downgrade_database(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``"base"`` empties it)."""
    await _run_command(url, _downgrade, revision)


def make_revision(message: str, *, url: str | None = None) -> None:
    """Autogenerate a revision in ``migrations/versions`` from the difference between models and database.

    The database (``url``, else ``XUEJI_DATABASE_URL``) must be at head, and empty for the first revision.
    Writes nothing when there is no difference. Synchronous: call it from a command line, not a loop.
    """
    config = make_config(url or load_settings().database_url)
    config.attributes["autogenerate"] = True
    command.revision(config, message=message, autogenerate=True)


async def _run_command(url: str, run: _Command, revision: str) -> None:
    config = make_config(url)
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run, config, revision)
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.downgrade(config, revision)
