"""Every query of continuation: the duplicate lookups against existing records, and the import's own rows.

The lookups are set-based: one statement per chunk of at most ``CHUNK`` list rows, never one per row, and
each statement takes its whole chunk of keys as *one* bound parameter, so it is compiled once and cached,
whatever the chunk's size:

- PostgreSQL gets arrays: ``id_number = ANY(:numbers)``, and the (name, gender, birth date) triples as
  ``JOIN unnest(:names, :genders, :birth_dates)``.
- SQLite gets JSON arrays, unpacked by ``json_each``: ``id_number IN (SELECT value FROM
  json_each(:numbers))``, and ``JOIN json_each(:keys)`` on the elements of each triple.

Both plan as one index probe per key: ``ix_student_record_id_number``,
``ix_student_record_name_gender_birth_date`` (PRB-3's key: same name, gender and birth date) and the
unique index on ``national_number``. They replaced an IN list of one parameter per key, which spent a
fifth of its time binding and expanding (SQLite, 10,000 ID numbers: 37 ms, now 30), and an OR of equality
triples built per size and kept to 500 terms, as SQLite refuses an expression more than 1,000 levels deep
(1,900 triples: 14 ms, now 3). ``bench/duplicate_check.py`` times exactly these statements and prints
their plans.

``insert_rows`` stores an import's rows in one go, below the ORM and below SQLAlchemy's parameter
processing (a bound value converted per column and row cost more than SQLite's own insert): PostgreSQL
receives them by ``COPY``, SQLite by one ``executemany``, in the session's transaction either way.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import date
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

from sqlalchemy import JSON, Date, Select, String, and_, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import TableValuedAlias

from backend.domain.actor import Actor
from backend.domain.errors import NotFoundError
from backend.models import ContinuationImport, ContinuationRow, StudentRecord
from backend.models.enums import Gender, IdType, ImportRowState, RecordStatus, RegistrationState, Stage

# List rows per lookup statement: big enough that statements are few, small enough that no one statement
# holds a whole 100,000-row list.
CHUNK = 1000
# (name, gender, birth date) triples per statement: as many, now that they are one parameter too.
IDENTITY_CHUNK = 1000

# What classification needs of a record. Only these columns are read: every column read is a value
# converted per row (dates parsed, enums looked up), thousands of times per list.
LOOKUP_COLUMNS = (
    StudentRecord.id,
    StudentRecord.name,
    StudentRecord.gender,
    StudentRecord.birth_date,
    StudentRecord.id_number,
    StudentRecord.national_number,
    StudentRecord.stage,
    StudentRecord.status,
)
ID_LOOKUP_COLUMNS = (
    StudentRecord.id,
    StudentRecord.name,
    StudentRecord.id_number,
    StudentRecord.stage,
    StudentRecord.status,
)


class FoundRecord(NamedTuple):
    """A record found by a lookup (``LOOKUP_COLUMNS``): ``FoundRecord._make(row)`` for each result row.

    Classification reads several fields of each record found, for every list row. Reading a field of a
    NamedTuple is a plain index; reading one of SQLAlchemy's ``Row`` by name costs about ten times that,
    which was a third of classification's own time.
    """

    id: int
    name: str
    gender: Gender
    birth_date: date
    id_number: str | None
    national_number: str
    stage: Stage
    status: RecordStatus


class IdHolder(NamedTuple):
    """A record found by ID number (``ID_LOOKUP_COLUMNS``); see ``FoundRecord``."""

    id: int
    name: str
    id_number: str
    stage: Stage
    status: RecordStatus


_LIVE = StudentRecord.registration_state != RegistrationState.DELETED

IdentityKey = tuple[str, Gender, date]
Lookup = Select[int, str, Gender, date, str | None, str, Stage, RecordStatus]
IdLookup = Select[int, str, str | None, Stage, RecordStatus]
Params = dict[str, Any]


def records_by_id_numbers(dialect: str, numbers: Collection[str]) -> tuple[IdLookup, Params]:
    """Live records holding any of these ID numbers (REG-8 (2), PRB-2's key), with the parameters.

    Args:
        dialect: ``postgresql`` or ``sqlite``: ``(await session.connection()).dialect.name``.
        numbers: the chunk's ID numbers.
    """
    return _id_number_statement(dialect), {"numbers": list(numbers)}


def records_by_national_numbers(dialect: str, numbers: Collection[str]) -> tuple[Lookup, Params]:
    """Live records holding any of these national numbers (vocational lists carry them, REG-9)."""
    return _national_number_statement(dialect), {"numbers": list(numbers)}


def records_by_identity(dialect: str, keys: Collection[IdentityKey]) -> tuple[Lookup, Params]:
    """Live records with any of these (name, gender, birth date) triples (PRB-3's key), with parameters.

    The keys must be distinct: the statement joins them to the records, so a repeated key would return
    its records twice.
    """
    if dialect == "postgresql":
        return _identity_statement(dialect), {
            "names": [name for name, _, _ in keys],
            "genders": [str(gender) for _, gender, _ in keys],
            "birth_dates": [birth_date for _, _, birth_date in keys],
        }
    # SQLite stores a Date as ISO text and an enum as its name, so these compare equal to the column.
    triples = [[name, str(gender), birth_date.isoformat()] for name, gender, birth_date in keys]
    return _identity_statement(dialect), {"keys": triples}


def _any_of(dialect: str, column: Any) -> Any:
    """``column`` is one of the strings in the parameter ``numbers`` (see the module docstring)."""
    if dialect == "postgresql":
        return column == any_(bindparam("numbers", type_=ARRAY(String)))
    numbers = func.json_each(bindparam("numbers", type_=JSON)).table_valued("value")
    return column.in_(select(numbers.c.value))


@lru_cache(maxsize=4)
def _id_number_statement(dialect: str) -> IdLookup:
    return select(*ID_LOOKUP_COLUMNS).where(_any_of(dialect, StudentRecord.id_number), _LIVE)


@lru_cache(maxsize=4)
def _national_number_statement(dialect: str) -> Lookup:
    return select(*LOOKUP_COLUMNS).where(_any_of(dialect, StudentRecord.national_number), _LIVE)


@lru_cache(maxsize=4)
def _identity_statement(dialect: str) -> Lookup:
    # Written FROM student_record JOIN keys; both planners start from the keys all the same.
    keys: TableValuedAlias
    name: ColumnElement[Any]
    gender: ColumnElement[Any]
    birth_date: ColumnElement[Any]
    if dialect == "postgresql":
        keys = (
            func.unnest(
                bindparam("names", type_=ARRAY(String)),
                bindparam("genders", type_=ARRAY(String)),
                bindparam("birth_dates", type_=ARRAY(Date)),
            )
            .table_valued("name", "gender", "birth_date")
            .render_derived(name="k")
        )
        name, gender, birth_date = keys.c.name, keys.c.gender, keys.c.birth_date
    else:
        keys = func.json_each(bindparam("keys", type_=JSON)).table_valued("value").alias("k")
        name, gender, birth_date = (func.json_extract(keys.c.value, f"$[{i}]") for i in range(3))
    return (
        select(*LOOKUP_COLUMNS)
        .select_from(StudentRecord)
        .join(
            keys,
            and_(
                StudentRecord.name == name,
                StudentRecord.gender == gender,
                StudentRecord.birth_date == birth_date,
            ),
        )
        .where(_LIVE)
    )


# --- storing an import's rows ---------------------------------------------------------------------------


class NewRow(Protocol):
    """What ``insert_rows`` stores of a list row (``classify.ListRow`` is one)."""

    number: int
    name: str | None
    gender: Gender | None
    birth_date: date | None
    id_type: IdType | None
    id_number: str | None
    national_number: str | None
    state: ImportRowState
    candidate_ids: list[int]
    matched_record_id: int | None
    errors: list[dict[str, Any]]


# ``ContinuationRow`` columns in the order of the tuples below; ``id`` comes from the table's default.
ROW_COLUMNS = (
    "import_id",
    "row_number",
    "name",
    "gender",
    "birth_date",
    "id_type",
    "id_number",
    "national_number",
    "state",
    "candidate_ids",
    "matched_record_id",
    "record_id",
    "errors",
    "details",
)
_INSERT_ROW = (
    f"INSERT INTO {ContinuationRow.__tablename__} ({', '.join(ROW_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in ROW_COLUMNS)})"
)
# JSON columns as text: what SQLAlchemy's JSON type would write (``json.dumps``); most rows have no
# candidates and no errors, and no row has details yet.
_EMPTY_LIST = "[]"
_EMPTY_DETAILS = "{}"


async def insert_rows(session: AsyncSession, import_id: int, rows: Sequence[NewRow]) -> None:
    """Store the rows of an import (flushed already) in the session's transaction, in one statement.

    PostgreSQL: ``COPY`` through the asyncpg connection under the session; the JSON columns go as text
    (SQLAlchemy's ``jsonb`` codec on that connection takes text) and dates as ``date``. SQLite: one
    ``executemany`` of a plain ``INSERT``, dates as ISO text like SQLAlchemy's ``Date`` writes them.
    Enum columns store the member's name, which for these ``StrEnum``s is its value: ``str(member)``.
    (Passed as members, sqlite3 first looks for an adapter for each, a fifth of SQLite's insert time.)
    """
    connection = await session.connection()
    postgres = connection.dialect.name == "postgresql"
    dumps = json.dumps
    values = (
        (
            import_id,
            row.number,
            row.name,
            str(row.gender) if row.gender else None,
            row.birth_date.isoformat() if row.birth_date and not postgres else row.birth_date,
            str(row.id_type) if row.id_type else None,
            row.id_number,
            row.national_number,
            str(row.state),
            dumps(row.candidate_ids) if row.candidate_ids else _EMPTY_LIST,
            row.matched_record_id,
            None,
            dumps(row.errors) if row.errors else _EMPTY_LIST,
            _EMPTY_DETAILS,
        )
        for row in rows
    )
    if postgres:
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        # Fed a generator, asyncpg sends each 512 KiB as soon as it is encoded: PostgreSQL stores the first
        # rows while the later ones are still being prepared.
        await driver.copy_records_to_table(ContinuationRow.__tablename__, columns=ROW_COLUMNS, records=values)
    else:
        await connection.exec_driver_sql(_INSERT_ROW, list(values))


# --- the import's own rows --------------------------------------------------------------------------------


async def import_of_school(
    session: AsyncSession, actor: Actor, import_id: int, *, for_update: bool = False
) -> ContinuationImport:
    """The import if it belongs to the actor's school; NOT_FOUND otherwise (ORG-3)."""
    stmt = select(ContinuationImport).where(
        ContinuationImport.id == import_id, ContinuationImport.school_id == actor.unit_id
    )
    if for_update:
        stmt = stmt.with_for_update()
    found = await session.scalar(stmt)
    if found is None:
        raise NotFoundError(field="importId")
    return found


async def row_of_school(
    session: AsyncSession, actor: Actor, row_id: int
) -> tuple[ContinuationRow, ContinuationImport]:
    """A row and its import, both locked, if the import belongs to the actor's school; else NOT_FOUND."""
    stmt = (
        select(ContinuationRow, ContinuationImport)
        .join(ContinuationImport, ContinuationImport.id == ContinuationRow.import_id)
        .where(ContinuationRow.id == row_id, ContinuationImport.school_id == actor.unit_id)
        .with_for_update()
    )
    found = (await session.execute(stmt)).one_or_none()
    if found is None:
        raise NotFoundError(field="rowId")
    return found[0], found[1]
