"""Every query of continuation: the duplicate lookups against existing records, and the import's own rows.

The lookups are set-based: one statement per chunk of at most ``CHUNK`` list rows, never one per row.
``records_by_id_numbers`` uses ``ix_student_record_id_number``; ``records_by_identity`` uses
``ix_student_record_name_gender_birth_date`` (PRB-3's key: same name, gender and birth date);
``records_by_national_numbers`` the unique index on ``national_number``. ``bench/duplicate_check.py``
times exactly these statements and prints their plans.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.actor import Actor
from backend.domain.errors import NotFoundError
from backend.models import ContinuationImport, ContinuationRow, StudentRecord
from backend.models.enums import Gender, RecordStatus, RegistrationState, Stage

# List rows per lookup statement: 1,000 ID numbers stay far below every backend's parameter limit and
# keep the plan a plain index probe per key.
CHUNK = 1000
# (name, gender, birth date) triples per statement: SQLite parses an OR of n terms as an expression n
# levels deep and refuses more than 1,000 levels (SQLITE_MAX_EXPR_DEPTH), so these go 500 at a time.
IDENTITY_CHUNK = 500

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
_LIVE = StudentRecord.registration_state != RegistrationState.DELETED

IdentityKey = tuple[str, Gender, date]
Lookup = Select[int, str, Gender, date, str | None, str, Stage, RecordStatus]
IdLookup = Select[int, str, str | None, Stage, RecordStatus]


def records_by_id_numbers(numbers: Collection[str]) -> IdLookup:
    """Live records holding any of these ID numbers (REG-8 (2), PRB-2's key)."""
    return select(*ID_LOOKUP_COLUMNS).where(StudentRecord.id_number.in_(numbers), _LIVE)


def records_by_identity(keys: Sequence[IdentityKey]) -> tuple[Lookup, dict[str, Any]]:
    """Live records with any of these (name, gender, birth date) triples (PRB-3's key), with parameters.

    An OR of equality triples rather than a row-value ``IN``: SQLite plans the OR as one index probe
    per triple ("MULTI-INDEX OR") and PostgreSQL as a ``BitmapOr`` of index scans, while SQLite scans the
    whole index for ``(a, b, c) IN (VALUES …)``, and a join to ``(VALUES …) AS k (a, b, c)`` is not
    SQLite syntax. At most ``IDENTITY_CHUNK`` keys per statement.

    Building and compiling an OR of hundreds of terms costs far more than running it, so the statement
    is built once per size (8, 32, 128 or ``IDENTITY_CHUNK`` terms) with bound parameters, and a shorter
    list of keys is padded by repeating its last key.
    """
    if not 0 < len(keys) <= IDENTITY_CHUNK:
        raise ValueError(f"between 1 and {IDENTITY_CHUNK} keys per statement, not {len(keys)}")
    size = next(n for n in (8, 32, 128, IDENTITY_CHUNK) if n >= len(keys))
    padded = [*keys, *[keys[-1]] * (size - len(keys))]
    params: dict[str, Any] = {}
    for i, (name, gender, birth_date) in enumerate(padded):
        params[f"n{i}"], params[f"g{i}"], params[f"b{i}"] = name, gender, birth_date
    return _identity_statement(size), params


@lru_cache(maxsize=8)
def _identity_statement(size: int) -> Lookup:
    return select(*LOOKUP_COLUMNS).where(
        or_(
            *(
                and_(
                    StudentRecord.name == bindparam(f"n{i}"),
                    StudentRecord.gender == bindparam(f"g{i}"),
                    StudentRecord.birth_date == bindparam(f"b{i}"),
                )
                for i in range(size)
            )
        ),
        _LIVE,
    )


def records_by_national_numbers(numbers: Collection[str]) -> Lookup:
    """Live records holding any of these national numbers (vocational lists carry them, REG-9)."""
    return select(*LOOKUP_COLUMNS).where(StudentRecord.national_number.in_(numbers), _LIVE)


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
