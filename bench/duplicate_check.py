"""Duplicate lookups (查重) against N existing student records: latency and query plans.

Builds a throw-away database (SQLite in a temporary file by default; ``--postgres URL`` creates a fresh
database on that server and drops it afterwards), migrates it, and fills it with N records (default
1,000,000) through plain Core ``INSERT``s, executemany in chunks of 50,000. Records carry valid resident
ID numbers (``make_resident_id``: region, birth date, order code and a correct check digit), G national
numbers, and stages by age; 2% have no ID number (type NONE, an L number).

Then it times 1,000 lookups by ID number and 1,000 by (name, gender, birth date), half of them for
students who exist and half for students who do not, with exactly the statements the continuation
classifier sends (``backend.domain.continuation.repository``): batched as the classifier batches them
(``CHUNK`` ID numbers or ``IDENTITY_CHUNK`` triples per statement, as one array or JSON parameter), and one
key per statement for the latency of a single lookup. It prints per-lookup latency and each statement's
plan (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL), which must show index searches, never
a scan of ``student_record`` (on a small table PostgreSQL rightly prefers one scan to 1,000 probes).

    .venv/bin/python bench/duplicate_check.py [--records 1000000] [--postgres postgresql+asyncpg://…]

``build_records`` and ``bench_database`` are reused by ``bench/continuation_import.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.expression import Executable

from backend.db import make_engine
from backend.demo import FEMALE_GIVEN, MALE_GIVEN, SURNAMES
from backend.domain.continuation.repository import (
    CHUNK,
    IDENTITY_CHUNK,
    records_by_id_numbers,
    records_by_identity,
)
from backend.domain.records.id_numbers import make_resident_id
from backend.migrate import upgrade_database
from backend.models import StudentRecord, Unit
from backend.models.enums import Gender, IdType, NumberKind, RecordStatus, Stage, UnitKind

INSERT_CHUNK = 50_000
SEED = 2015
# 99 plausible districts of one province; students born 2008-01-01 .. 2022-12-31.
REGIONS = tuple(f"3401{n:02d}" for n in range(1, 100))
FIRST_BIRTH = date(2008, 1, 1)
BIRTH_DAYS = (date(2022, 12, 31) - FIRST_BIRTH).days + 1
DAY_STRIDE = 2039  # prime, and BIRTH_DAYS (5,479) is not a multiple of it
WITHOUT_ID_EVERY = 50  # 2% of records have no ID number
NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


def stage_of(birth: date) -> Stage:
    """Stage by age on 1 September 2026 (6-3-3, entering primary school at six)."""
    if birth.year >= 2020:
        return Stage.PRESCHOOL
    if birth.year >= 2014:
        return Stage.PRIMARY
    if birth.year >= 2011:
        return Stage.JUNIOR
    return Stage.SENIOR


@dataclass(frozen=True)
class Person:
    """What a generated record says about its student; index ``i`` regenerates it exactly."""

    index: int
    name: str
    gender: Gender
    birth_date: date
    id_number: str | None
    stage: Stage


def person(index: int, rng: random.Random) -> Person:
    """The ``index``-th generated student: every (region, birth date, gender, order) is used once."""
    region = REGIONS[index % len(REGIONS)]
    rest = index // len(REGIONS)
    # A stride coprime with the number of days spreads any prefix of indexes over all birth dates.
    birth = FIRST_BIRTH + timedelta(days=(rest * DAY_STRIDE) % BIRTH_DAYS)
    rest //= BIRTH_DAYS
    gender = Gender.MALE if rest % 2 == 0 else Gender.FEMALE
    sequence = rest // 2
    given = MALE_GIVEN if gender is Gender.MALE else FEMALE_GIVEN
    name = rng.choice(SURNAMES) + "".join(rng.choice(given) for _ in range(2 if rng.random() < 0.7 else 1))
    has_id = index % WITHOUT_ID_EVERY != WITHOUT_ID_EVERY - 1
    number = make_resident_id(region, birth, sequence, gender) if has_id else None
    return Person(index, name, gender, birth, number, stage_of(birth))


def record_row(p: Person, school: Unit) -> dict[str, Any]:
    if p.id_number:
        national, kind = "G" + p.id_number, NumberKind.G
    else:  # an L number: region, birth date, four digits; unique per index
        region = REGIONS[p.index % len(REGIONS)]
        national, kind = (
            f"L{region}{p.birth_date:%Y%m%d}{p.index // len(REGIONS) // BIRTH_DAYS:04d}",
            NumberKind.L,
        )
    return {
        "national_number": national,
        "number_kind": kind,
        "name": p.name,
        "gender": p.gender,
        "birth_date": p.birth_date,
        "id_type": IdType.RESIDENT_ID if p.id_number else IdType.NONE,
        "id_number": p.id_number,
        "photo_id": None,
        "ethnicity": None,
        "nationality": None,
        "is_left_behind": False,
        "is_migrant_child": False,
        "school_id": school.id,
        "unit_path": school.path,
        "class_id": None,
        "stage": p.stage,
        "grade": 0,
        "entry_date": None,
        "status": RecordStatus.IN_SCHOOL,
        "registration_kind": "IN_SCHOOL",
        "registration_state": "REGISTERED",
        "details": {},
        "version": 1,
        "created_at": NOW,
        "updated_at": NOW,
    }


async def make_school(engine: AsyncEngine, code: str, stages: Sequence[Stage]) -> Unit:
    """A bare province > school pair to hang records (and importing registrars) on."""
    async with engine.begin() as conn:
        province_code = "340000"
        province_id = await conn.scalar(select(Unit.id).where(Unit.code == province_code))
        if province_id is None:
            province_id = await conn.scalar(
                insert(Unit).returning(Unit.id),
                {
                    **_unit(UnitKind.PROVINCE, province_code, "测试省", None),
                    "path": "/pending/p/",
                    "depth": 0,
                },
            )
            await conn.execute(
                Unit.__table__.update().where(Unit.id == province_id).values(path=f"/{province_id}/")
            )
        school_id = await conn.scalar(
            insert(Unit).returning(Unit.id),
            {**_unit(UnitKind.SCHOOL, code, f"学校{code}", province_id), "stages": [str(s) for s in stages]},
        )
        path = f"/{province_id}/{school_id}/"
        await conn.execute(Unit.__table__.update().where(Unit.id == school_id).values(path=path, depth=1))
    return Unit(id=school_id, code=code, path=path, kind=UnitKind.SCHOOL, stages=[str(s) for s in stages])


def _unit(kind: UnitKind, code: str, name: str, parent_id: int | None) -> dict[str, Any]:
    return {
        "kind": kind,
        "code": code,
        "name": name,
        "parent_id": parent_id,
        "path": f"/pending/{code}/",
        "depth": 0,
        "is_central_school": False,
        "stages": [],
        "school_system": None,
        "is_active": True,
        "created_at": NOW,
        "updated_at": NOW,
    }


async def build_records(engine: AsyncEngine, count: int, *, quiet: bool = False) -> float:
    """Insert ``count`` generated records (``person(0)`` … ``person(count - 1)``); return the seconds."""
    school = await make_school(engine, "3401000001", [Stage.PRESCHOOL])
    rng = random.Random(SEED)
    started = time.perf_counter()
    statement = insert(StudentRecord.__table__)
    for start in range(0, count, INSERT_CHUNK):
        rows = [record_row(person(i, rng), school) for i in range(start, min(count, start + INSERT_CHUNK))]
        async with engine.begin() as conn:
            await conn.execute(statement, rows)
        if not quiet and sys.stdout.isatty():
            done = min(count, start + INSERT_CHUNK)
            print(
                f"\r  inserted {done:,} / {count:,} records ({time.perf_counter() - started:.0f} s)",
                end="",
                flush=True,
            )
    if not quiet and sys.stdout.isatty():
        print()
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE student_record"))
    return time.perf_counter() - started


def new_student(i: int) -> Person:
    """A student who is not in the database: an ID from another province, a name nobody generated."""
    birth = date(2020, 1, 1) + timedelta(days=i % 1000)
    rest = i // 1000
    region = f"3501{rest % 99 + 1:02d}"
    number = make_resident_id(region, birth, rest // 99, Gender.MALE)
    return Person(-1 - i, f"新生{i}", Gender.MALE, birth, number, Stage.PRESCHOOL)


def people(count: int) -> list[Person]:
    """The same people ``build_records(count)`` inserted (the generator is deterministic)."""
    rng = random.Random(SEED)
    return [person(i, rng) for i in range(count)]


@asynccontextmanager
async def bench_database(postgres_url: str | None, directory: Path) -> AsyncIterator[str]:
    """A fresh, migrated database: a SQLite file in ``directory``, or a new one on the PostgreSQL server."""
    if postgres_url is None:
        url = f"sqlite+aiosqlite:///{directory / 'bench.sqlite3'}"
        await upgrade_database(url)
        yield url
        return
    name = f"xueji_bench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"CREATE DATABASE {name}"))
        url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        await upgrade_database(url)
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        await admin.dispose()


# --- the lookups ----------------------------------------------------------------------------------------


Query = tuple[Select[Any], dict[str, Any]]


class Explain(Executable, ClauseElement):
    """``EXPLAIN`` (``EXPLAIN QUERY PLAN`` on SQLite) of a statement, run with its bound parameters.

    The lookups take their keys as one array or JSON parameter, which has no literal rendering; the plan
    is the one for those very parameters either way.
    """

    inherit_cache = False

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement


@compiles(Explain)
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    return prefix + compiler.process(element.statement, **kw)


async def explain(engine: AsyncEngine, query: Query, limit: int = 8, width: int = 150) -> list[str]:
    """The plan of a query: its first ``limit`` lines, cut at ``width``."""
    statement, params = query
    async with engine.connect() as conn:
        rows = (await conn.execute(Explain(statement), params or None)).all()
    lines = [str(row[-1]) for row in rows]
    shown = [line if len(line) <= width else line[: width - 1] + "…" for line in lines[:limit]]
    if len(lines) > limit:
        shown.append(f"… {len(lines) - limit} more lines")
    searches = sum(("SEARCH" in line or "Index Scan" in line) and "student_record" in line for line in lines)
    scans = sum(("SCAN" in line or "Seq Scan" in line) and "student_record" in line for line in lines)
    shown.append(f"({searches} index searches of student_record, {scans} scans of student_record)")
    return shown


async def timed(engine: AsyncEngine, queries: Sequence[Query]) -> tuple[float, int]:
    """Seconds to run the queries one after the other on one connection, and rows returned."""
    found = 0
    async with engine.connect() as conn:
        started = time.perf_counter()
        for statement, params in queries:
            found += len((await conn.execute(statement, params or None)).all())
        return time.perf_counter() - started, found


def batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def single_latencies(engine: AsyncEngine, queries: Sequence[Query]) -> list[float]:
    latencies = []
    async with engine.connect() as conn:
        for statement, params in queries:
            started = time.perf_counter()
            (await conn.execute(statement, params or None)).all()
            latencies.append(time.perf_counter() - started)
    return latencies


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


async def run_lookups(engine: AsyncEngine, count: int, lookups: int) -> None:
    rng = random.Random(7)
    existing = [p for p in rng.sample(people(count), min(count, lookups)) if p.id_number][: lookups // 2]
    # Students not in the database: another province's IDs, names nobody generated.
    missing = [new_student(i) for i in range(lookups - len(existing))]
    wanted = existing + missing
    rng.shuffle(wanted)
    numbers = [p.id_number for p in wanted if p.id_number]
    keys = [(p.name, p.gender, p.birth_date) for p in wanted]

    dialect = engine.dialect.name

    def by_number(batch: Sequence[Any]) -> Query:
        return records_by_id_numbers(dialect, batch)

    def by_identity(batch: Sequence[Any]) -> Query:
        return records_by_identity(dialect, list(dict.fromkeys(batch)))  # distinct, as the classifier's

    kinds: list[tuple[str, Callable[[Sequence[Any]], Query], Sequence[Any], int]] = [
        ("ID number", by_number, numbers, CHUNK),
        ("name + gender + birth date", by_identity, keys, IDENTITY_CHUNK),
    ]
    for label, build, values, chunk in kinds:
        print(f"\n## by {label}: {len(values):,} lookups", end=" ")
        print(f"({len(existing)} existing students, {len(missing)} new)")
        statements = [build(batch) for batch in batches(values, chunk)]
        await timed(engine, statements)  # warm the cache: the figures are for a server that is running
        runs = [await timed(engine, statements) for _ in range(3)]
        best = min(seconds for seconds, _ in runs)
        print(f"  batched as the classifier does: {len(statements)} statement(s) of up to {chunk:,} keys")
        print(
            f"    {ms(best)} for all {len(values):,} (best of 3), {us(best / len(values))} per lookup,",
            end=" ",
        )
        print(f"{runs[0][1]:,} rows found")
        latencies = await single_latencies(engine, [build([v]) for v in values])
        latencies.sort()
        print(f"  one key per statement: {len(latencies):,} statements")
        print(
            f"    mean {us(statistics.fmean(latencies))}, p50 {us(latencies[len(latencies) // 2])}, "
            f"p99 {us(latencies[int(len(latencies) * 0.99)])} per lookup"
        )
        print(f"  plan of the batched statement ({engine.dialect.name}):")
        for line in await explain(engine, statements[0]):
            print(f"    {line}")


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="xueji-bench-") as directory:
        async with bench_database(args.postgres, Path(directory)) as url:
            engine = make_engine(url)
            try:
                backend = "PostgreSQL" if args.postgres else "SQLite"
                print(f"# duplicate check: {args.records:,} existing records on {backend}")
                seconds = await build_records(engine, args.records)
                rate = args.records / seconds
                print(f"  built in {seconds:.1f} s ({rate:,.0f} records/s, chunks of {INSERT_CHUNK:,})")
                await run_lookups(engine, args.records, args.lookups)
            finally:
                await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=1_000_000, help="existing records (default 1,000,000)")
    parser.add_argument("--lookups", type=int, default=1000, help="lookups of each kind (default 1,000)")
    parser.add_argument(
        "--postgres", metavar="URL", help="postgresql+asyncpg://… server to use instead of SQLite"
    )
    args = parser.parse_args(argv)
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
