"""Continuation import end to end: read, validate, classify and store a new-student list (REG-8).

Builds a throw-away database with M existing records (default 1,000,000, ``--existing``; the same
generated population as ``bench/duplicate_check.py``), a primary school and its registrar, then writes a
list of N rows (default 10,000, ``--rows``) as an ``.xlsx`` with openpyxl in write-only mode:

- 70% preschool children with their exact name and ID number (→ MATCHED),
- 8% with a known ID number but another name, 2% without an ID matching an ID-less record (→ TO_CONFIRM),
- 19% new children with unknown ID numbers (→ NOT_FOUND), 1% with a bad date or check digit (→ INVALID).

It uploads the list and times ``create_import`` through a real unit of work, commit included: reading
the stored file, validating, classifying against the M records, inserting the rows, counting, the audit
row. Beside it, the raw python-calamine read of the same file in the same run, and the ratio of the two
(goal ≥ 0.15); goals: ≥ 10,000 rows/s on SQLite, ≥ 20,000 rows/s on PostgreSQL. ``--scaling`` repeats
with 1,000, 10,000 and 100,000 rows to show the cost per row is flat; ``--breakdown`` prints where the
time of one import goes.

    .venv/bin/python bench/continuation_import.py [--existing 1000000] [--rows 10000] [--scaling]
        [--breakdown] [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from duplicate_check import Person, bench_database, build_records, make_school, new_student, people
from openpyxl import Workbook
from python_calamine import CalamineWorkbook
from sqlalchemy import insert

from backend.clock import FixedClock, local_today
from backend.config import Settings
from backend.db import Database, make_engine
from backend.domain.actor import Actor
from backend.domain.attachments import formats
from backend.domain.attachments.service import AttachmentPurpose, upload_attachment
from backend.domain.continuation.classify import classify_rows
from backend.domain.continuation.repository import insert_rows
from backend.domain.continuation.service import create_import, read_list
from backend.models import ContinuationImport, User, UserRole
from backend.models.enums import Gender, Role, Stage, UnitKind

HEADER = ["姓名", "性别", "出生日期", "身份证件类型", "身份证件号码"]
NOW = datetime(2026, 9, 10, 2, 0, tzinfo=UTC)  # 2026-09-10 10:00 in Shanghai: term has started
GOAL_RATIO = 0.15
GOALS = {"SQLite": 10_000, "PostgreSQL": 20_000}


@dataclass
class ListMix:
    matched: int = 0
    confirm_by_id: int = 0
    confirm_without_id: int = 0
    not_found: int = 0
    invalid: int = 0

    def line(self) -> str:
        return (
            f"{self.matched:,} matched, {self.confirm_by_id + self.confirm_without_id:,} to confirm, "
            f"{self.not_found:,} not found, {self.invalid:,} invalid"
        )


def list_rows(size: int, population: Sequence[Person], seed: int) -> tuple[list[list[Any]], ListMix]:
    """``size`` list rows in the mix of the module docstring, each student at most once."""
    rng = random.Random(seed)
    preschool = [p for p in population if p.stage is Stage.PRESCHOOL]
    with_id = [p for p in preschool if p.id_number]
    without_id = [p for p in preschool if not p.id_number]
    rng.shuffle(with_id)
    mix = ListMix()
    mix.matched = min(int(size * 0.70), len(with_id))
    mix.confirm_by_id = min(int(size * 0.08), len(with_id) - mix.matched)
    mix.confirm_without_id = min(int(size * 0.02), len(without_id))
    mix.invalid = max(1, size // 100)
    mix.not_found = size - mix.matched - mix.confirm_by_id - mix.confirm_without_id - mix.invalid
    rows: list[list[Any]] = []
    for p in with_id[: mix.matched]:
        rows.append([p.name, _gender(p), p.birth_date, "居民身份证", p.id_number])
    for p in with_id[mix.matched : mix.matched + mix.confirm_by_id]:
        other = p.name[:-1] + ("某" if p.name[-1] != "某" else "甲")
        rows.append([other, _gender(p), p.birth_date, "居民身份证", p.id_number])
    for p in rng.sample(without_id, mix.confirm_without_id):
        rows.append([p.name, _gender(p), p.birth_date.isoformat(), "无", ""])
    for i in range(mix.not_found):
        p = new_student(seed * 200_000 + i)
        rows.append([p.name, _gender(p), p.birth_date, "居民身份证", p.id_number])
    for i in range(mix.invalid):
        p = new_student(seed * 200_000 + mix.not_found + i)
        number = p.id_number or ""
        if i % 2:
            rows.append([p.name, _gender(p), "2020-02-30", "居民身份证", number])
        else:
            wrong = number[:17] + ("0" if number[17] != "0" else "1")
            rows.append([p.name, _gender(p), p.birth_date, "居民身份证", wrong])
    rng.shuffle(rows)
    return rows, mix


def _gender(p: Person) -> str:
    return "男" if p.gender is Gender.MALE else "女"


def write_xlsx(rows: Sequence[Sequence[Any]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("新生名单")
    sheet.append(HEADER)
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def calamine_seconds(data: bytes) -> float:
    """Best of three raw reads of the first sheet, exactly as the reader calls calamine."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        with CalamineWorkbook.from_filelike(io.BytesIO(data)) as book:
            book.get_sheet_by_index(0).to_python(skip_empty_area=False)
        best = min(best, time.perf_counter() - started)
    return best


async def make_registrar(database: Database, school_id: int, school_path: str) -> Actor:
    async with database.engine.begin() as conn:
        user_id = await conn.scalar(
            insert(User).returning(User.id),
            {
                "username": f"reg-{school_id}",
                "display_name": "学籍管理员",
                "unit_id": school_id,
                "password_hash": "-",
                "password_changed_at": NOW,
                "must_change_password": False,
                "failed_attempts": 0,
                "is_active": True,
                "created_at": NOW,
                "updated_at": NOW,
            },
        )
        await conn.execute(insert(UserRole), {"user_id": user_id, "role": Role.REGISTRAR})
    return Actor(
        user_id=user_id,
        username=f"reg-{school_id}",
        unit_id=school_id,
        unit_path=school_path,
        unit_kind=UnitKind.SCHOOL,
        roles=frozenset({Role.REGISTRAR}),
    )


@dataclass
class Figures:
    rows: int
    seconds: list[float]
    calamine: float
    counts: dict[str, int]

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def rate(self) -> float:
        return self.rows / self.best

    @property
    def calamine_rate(self) -> float:
        return self.rows / self.calamine


async def one_size(
    database: Database,
    settings: Settings,
    clock: FixedClock,
    registrar: Actor,
    population: Sequence[Person],
    size: int,
    runs: int,
    seed: int,
    breakdown: bool,
) -> Figures:
    rows, mix = list_rows(size, population, seed)
    data = write_xlsx(rows)
    print(f"\n## {size:,} rows ({len(data) / 1024:,.0f} KiB): {mix.line()}")
    async with database.unit_of_work(clock, settings) as uow:
        attachment = await upload_attachment(
            uow,
            actor=registrar,
            purpose=AttachmentPurpose.IMPORT,
            filename="新生名单.xlsx",
            content_type=formats.XLSX,
            data=data,
        )
    calamine = calamine_seconds(data)
    seconds: list[float] = []
    counts: dict[str, int] = {}
    for _ in range(runs):
        started = time.perf_counter()
        async with database.unit_of_work(clock, settings) as uow:
            continuation = await create_import(
                uow, actor=registrar, attachment_id=attachment.id, target_stage=Stage.PRIMARY
            )
        seconds.append(time.perf_counter() - started)
        counts = dict(continuation.counts)
    figures = Figures(size, seconds, calamine, counts)
    runs_text = ", ".join(f"{s * 1000:,.0f}" for s in seconds)
    print(f"  counts: {counts}")
    print(f"  create_import end to end (commit included): {runs_text} ms; best {figures.best * 1000:,.0f} ms")
    print(f"    {figures.rate:,.0f} rows/s end to end, {figures.best / size * 1e6:.1f} µs per row")
    rate = figures.calamine_rate
    print(f"  raw calamine read of the same file: {calamine * 1000:,.1f} ms, {rate:,.0f} rows/s")
    print(f"  ratio end to end / raw read: {figures.rate / figures.calamine_rate:.3f} (goal ≥ {GOAL_RATIO})")
    if breakdown:
        await print_breakdown(database, settings, clock, registrar, data)
    return figures


async def print_breakdown(
    database: Database, settings: Settings, clock: FixedClock, registrar: Actor, data: bytes
) -> None:
    """The phases of ``create_import``, timed one by one (the same functions, called in turn)."""
    phases: dict[str, float] = {}
    started = time.perf_counter()
    async with database.unit_of_work(clock, settings) as uow:
        mark = time.perf_counter()
        rows = await asyncio.to_thread(read_list, data, target_stage=Stage.PRIMARY, today=local_today(clock))
        phases["read + validate (worker thread)"] = time.perf_counter() - mark
        mark = time.perf_counter()
        await classify_rows(uow.session, rows, target_stage=Stage.PRIMARY)
        phases["classify (lookups)"] = time.perf_counter() - mark
        mark = time.perf_counter()
        record = ContinuationImport(
            school_id=registrar.unit_id,
            unit_path=registrar.unit_path,
            attachment_id=None,
            state="BENCH",
            target_stage="PRIMARY",
            counts={},
            created_by_id=registrar.user_id,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        uow.session.add(record)
        await uow.session.flush()
        phases["store the import"] = time.perf_counter() - mark
        mark = time.perf_counter()
        await insert_rows(uow.session, record.id, rows)
        phases["insert rows (COPY / executemany)"] = time.perf_counter() - mark
        mark = time.perf_counter()
    phases["commit"] = time.perf_counter() - mark
    total = time.perf_counter() - started
    print("  breakdown of one import:")
    for name, seconds in phases.items():
        print(f"    {name:<32} {seconds * 1000:8.1f} ms  {seconds / total:5.1%}")


async def run_backend(args: argparse.Namespace, postgres: str | None, directory: Path) -> list[Figures]:
    backend = "PostgreSQL" if postgres else "SQLite"
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    async with bench_database(postgres, directory) as url:
        engine = make_engine(url)
        print(f"\n# continuation import on {backend}, {args.existing:,} existing records")
        seconds = await build_records(engine, args.existing)
        print(f"  existing records built in {seconds:.1f} s")
        school = await make_school(engine, "3401000002", [Stage.PRIMARY])
        await engine.dispose()
        database = Database(url)
        try:
            registrar = await make_registrar(database, school.id, school.path)
            settings = Settings(
                var_dir=directory / "var",
                secret_key="b" * 48,
                database_url=url,
                attachment_dir=directory / "attachments",
            )
            clock = FixedClock(NOW)
            population = people(args.existing)
            # The generated population lives in this process only; keep the collector from walking it
            # on every full collection (a server holds no such heap).
            gc.collect()
            gc.freeze()
            sizes = [1_000, 10_000, 100_000] if args.scaling else [args.rows]
            results = []
            for i, size in enumerate(sizes):
                results.append(
                    await one_size(
                        database,
                        settings,
                        clock,
                        registrar,
                        population,
                        size,
                        args.runs if size <= 10_000 else 1,
                        seed=i + 1,
                        breakdown=args.breakdown,
                    )
                )
        finally:
            await database.dispose()
    print(f"\n# summary on {backend}")
    for figures in results:
        ratio = figures.rate / figures.calamine_rate
        print(
            f"  {figures.rows:>7,} rows: {figures.rate:>8,.0f} rows/s end to end "
            f"({figures.best / figures.rows * 1e6:5.1f} µs/row), "
            f"calamine {figures.calamine_rate:>9,.0f} rows/s, "
            f"ratio {ratio:.3f}"
        )
    main = next((f for f in results if f.rows == 10_000), results[-1])
    goal = GOALS[backend]
    verdict = "met" if main.rate >= goal else "MISSED"
    print(f"  goal ≥ {goal:,} rows/s at {main.rows:,} rows: {verdict} ({main.rate:,.0f})")
    ratio = main.rate / main.calamine_rate
    print(f"  goal ratio ≥ {GOAL_RATIO}: {'met' if ratio >= GOAL_RATIO else 'MISSED'} ({ratio:.3f})")
    if len(results) > 1:
        per_row = [f.best / f.rows * 1e6 for f in results]
        spread = max(per_row) / min(per_row)
        print(f"  per-row cost {', '.join(f'{c:.1f}' for c in per_row)} µs: max/min {spread:.2f}")
        print(f"  (median {statistics.median(per_row):.1f} µs/row)")
    return results


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="xueji-bench-") as directory:
        await run_backend(args, None, Path(directory) / "sqlite")
        if args.postgres:
            await run_backend(args, args.postgres, Path(directory) / "postgres")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--existing", type=int, default=1_000_000, help="existing records (default 1,000,000)"
    )
    parser.add_argument("--rows", type=int, default=10_000, help="rows in the list (default 10,000)")
    parser.add_argument("--scaling", action="store_true", help="run 1,000, 10,000 and 100,000 rows")
    parser.add_argument("--runs", type=int, default=3, help="imports per size up to 10,000 rows (default 3)")
    parser.add_argument("--breakdown", action="store_true", help="time the phases of one import")
    parser.add_argument(
        "--postgres", metavar="URL", help="also run on this PostgreSQL server (postgresql+asyncpg://…)"
    )
    args = parser.parse_args(argv)
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
