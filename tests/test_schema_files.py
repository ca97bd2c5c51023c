"""The committed SDL matches the code, and every client operation validates against it."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import build_schema as parse_sdl
from graphql import parse, validate

from backend.config import Settings
from backend.graphql.schema import build_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "frontend-schema" / "schema.graphql"
OPERATIONS = sorted((ROOT / "frontend-schema" / "operations").glob("*.graphql"))


def test_exported_schema_is_current() -> None:
    current = build_schema(Settings(secret_key="x" * 48)).as_str() + "\n"

    assert SCHEMA_FILE.read_text(encoding="utf-8") == current, (
        "frontend-schema/schema.graphql is stale: run `xueji schema export`"
    )


def test_there_are_client_operations() -> None:
    assert {p.name for p in OPERATIONS} >= {"signIn.graphql", "me.graphql", "tree.graphql"}


@pytest.mark.parametrize("path", OPERATIONS, ids=lambda p: p.name)
def test_client_operation_validates(path: Path) -> None:
    schema = parse_sdl(SCHEMA_FILE.read_text(encoding="utf-8"))

    errors = validate(schema, parse(path.read_text(encoding="utf-8")))

    assert errors == []
