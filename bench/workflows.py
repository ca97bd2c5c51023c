"""The approval engine at province scale: a county's to-do list, and the sweeps over open businesses.

1. To-do: ``--instances`` open businesses (default 10,000) spread over 20 counties, ``--queue`` of them
   (default 500) waiting on one county's registrar. Times ``queries.to_do`` for pages of 20 and 100 and
   counts its SQL statements (the goal: the same count whatever the page size or queue length).
2. Sweeps: ``--stale`` open businesses (default 100,000) past their clearing date (TRF-4: 90 days), each
   with a pending step past its due date. Times ``record_overdue`` (one ``INSERT … SELECT``) and
   ``clear_stale`` (set-based chunks: hash-chained cancel actions, audit rows and batch outcomes), with
   their statement counts.

    .venv/bin/python bench/workflows.py [--instances 10000] [--queue 500] [--stale 100000]
        [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from duplicate_check import bench_database
from sqlalchemy import event, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.calendar import WorkingDayCalendar
from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database
from backend.domain.actor import Actor
from backend.domain.workflows.chain import GENESIS
from backend.domain.workflows.queries import to_do
from backend.domain.workflows.sweeps import clear_stale, record_overdue
from backend.models import OverdueStep, Unit, WorkflowAction, WorkflowInstance, WorkflowStep
from backend.models.enums import DeadlineAction, Role, StepKind, StepState, UnitKind, WorkflowState

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
TODAY = date(2026, 11, 25)
COUNTIES = 20
CHUNK = 5000


async def build_tree(engine: AsyncEngine) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """A province with 20 counties and one school in each; returns (counties, schools) as (id, path)."""

    def unit(kind: UnitKind, code: str, parent: int | None) -> dict[str, Any]:
        return {
            "kind": kind,
            "code": code,
            "name": f"单位{code}",
            "parent_id": parent,
            "path": f"/pending/{code}/",
            "depth": 0,
            "is_central_school": False,
            "stages": [],
            "school_system": None,
            "is_active": True,
            "created_at": NOW,
            "updated_at": NOW,
        }

    async with engine.begin() as conn:

        async def add(kind: UnitKind, code: str, parent: tuple[int, str] | None) -> tuple[int, str]:
            unit_id = await conn.scalar(
                insert(Unit).returning(Unit.id), unit(kind, code, None if parent is None else parent[0])
            )
            assert unit_id is not None
            path = f"{parent[1] if parent else '/'}{unit_id}/"
            depth = 0 if parent is None else path.count("/") - 2
            await conn.execute(update(Unit).where(Unit.id == unit_id).values(path=path, depth=depth))
            return unit_id, path

        province = await add(UnitKind.PROVINCE, "340000", None)
        city = await add(UnitKind.CITY, "340100", province)
        counties = [await add(UnitKind.COUNTY, f"3401{i:02d}", city) for i in range(1, COUNTIES + 1)]
        schools = [
            await add(UnitKind.SCHOOL, f"34010{i:02d}001", county) for i, county in enumerate(counties)
        ]
    return counties, schools


async def insert_instances(
    engine: AsyncEngine,
    count: int,
    schools: list[tuple[int, str]],
    counties: list[tuple[int, str]],
    *,
    pending_at: int | None,
    pending_count: int,
    started: datetime,
    clears_on: date | None,
    due_on: date | None,
) -> None:
    """``count`` open two-step businesses; the first ``pending_count`` wait on county ``pending_at``."""
    for start in range(0, count, CHUNK):
        batch = range(start, min(count, start + CHUNK))
        async with engine.begin() as conn:
            first_id = (await conn.scalar(select(func.coalesce(func.max(WorkflowInstance.id), 0)))) + 1
            instances, steps, actions = [], [], []
            for offset, n in enumerate(batch):
                instance_id = first_id + offset
                school_id, school_path = schools[n % len(schools)]
                county_id = counties[n % len(counties)][0]
                waiting_on_county = pending_at is not None and n < pending_count
                if waiting_on_county:
                    county_id = pending_at
                instances.append(
                    {
                        "id": instance_id,
                        "kind": "bench",
                        "subject_type": "bench",
                        "subject_id": instance_id,
                        "state": WorkflowState.OPEN,
                        "current_step": 1 if waiting_on_county else 0,
                        "version": 1,
                        "unit_path": school_path,
                        "started_by_id": None,
                        "started_at": started,
                        "finished_at": None,
                        "clears_on": clears_on,
                        "data": {},
                    }
                )
                for position, (unit_id, role) in enumerate(
                    ((school_id, Role.LEADER), (county_id, Role.REGISTRAR))
                ):
                    pending = position == (1 if waiting_on_county else 0)
                    done = position == 0 and waiting_on_county
                    steps.append(
                        {
                            "instance_id": instance_id,
                            "position": position,
                            "name": "学校审核" if position == 0 else "区县审核",
                            "acting_unit_id": unit_id,
                            "acting_role": role,
                            "kind": StepKind.REVIEW,
                            "deadline_working_days": 10,
                            "on_deadline": DeadlineAction.RECORD_OVERDUE,
                            "state": StepState.PENDING
                            if pending
                            else StepState.APPROVED
                            if done
                            else StepState.WAITING,
                            "due_on": due_on if pending else None,
                            "opened_at": started if pending or done else None,
                            "acted_at": None,
                            "acted_by_id": None,
                        }
                    )
                actions.append(
                    {
                        "instance_id": instance_id,
                        "position": None,
                        "action": "start",
                        "user_id": None,
                        "delegate_id": None,
                        "role": None,
                        "unit_id": None,
                        "at": started,
                        "comment": None,
                        "attachment_ids": [],
                        "previous_hash": GENESIS,
                        "hash": f"{instance_id:064x}",
                    }
                )
            await conn.execute(insert(WorkflowInstance.__table__), instances)
            await conn.execute(insert(WorkflowStep.__table__), steps)
            await conn.execute(insert(WorkflowAction.__table__), actions)


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


@asynccontextmanager
async def database(postgres: str | None) -> AsyncIterator[Database]:
    with tempfile.TemporaryDirectory() as directory:
        async with bench_database(postgres, Path(directory)) as url:
            db = Database(url)
            try:
                yield db
            finally:
                await db.dispose()


async def bench_to_do(postgres: str | None, instances: int, queue: int) -> list[str]:
    async with database(postgres) as db:
        counties, schools = await build_tree(db.engine)
        county_id, county_path = counties[0]
        await insert_instances(
            db.engine,
            instances,
            schools,
            counties,
            pending_at=county_id,
            pending_count=queue,
            started=NOW - timedelta(days=3),
            clears_on=None,
            due_on=TODAY + timedelta(days=7),
        )
        actor = Actor(
            user_id=1,
            username="bench",
            unit_id=county_id,
            unit_path=county_path,
            unit_kind=UnitKind.COUNTY,
            roles=frozenset({Role.REGISTRAR}),
        )
        calendar = WorkingDayCalendar.from_package()
        lines = []
        for size in (20, 100):
            timings, counts, total = [], [], 0
            for _ in range(30):
                async with db.read_session() as session:
                    with counting(db.engine) as statements:
                        started = time.perf_counter()
                        page = await to_do(
                            session,
                            actor,
                            calendar=calendar,
                            today=TODAY,
                            first=size,
                            after=None,
                            max_page=100,
                        )
                        timings.append(time.perf_counter() - started)
                    counts.append(len(statements))
                    total = len(page.items)
            lines.append(
                f"to-do page of {size:>3} ({total} items; {queue} in queue, {instances:,} open): "
                f"p50 {statistics.median(timings) * 1000:.2f} ms, "
                f"p95 {sorted(timings)[int(len(timings) * 0.95) - 1] * 1000:.2f} ms, "
                f"SQL statements {max(counts)}"
            )
        return lines


async def bench_sweeps(postgres: str | None, stale: int) -> list[str]:
    async with database(postgres) as db:
        counties, schools = await build_tree(db.engine)
        await insert_instances(
            db.engine,
            stale,
            schools,
            counties,
            pending_at=None,
            pending_count=0,
            started=NOW - timedelta(days=120),
            clears_on=TODAY - timedelta(days=30),
            due_on=TODAY - timedelta(days=100),
        )
        clock = FixedClock(NOW)
        settings = Settings(database_url=db.url, broadcast_url="memory://")
        lines = []
        for name, sweep in (("record_overdue", record_overdue), ("clear_stale", clear_stale)):
            with counting(db.engine) as statements:
                started = time.perf_counter()
                async with db.unit_of_work(clock, settings) as uow:
                    done = await sweep(uow)
                seconds = time.perf_counter() - started
            lines.append(
                f"{name:<15} {done:>7,} instances in {seconds:6.2f} s "
                f"({done / seconds:,.0f}/s), SQL statements {len(statements)}"
            )
        async with db.read_session() as session:
            registered = await session.scalar(select(func.count()).select_from(OverdueStep))
            cancelled = await session.scalar(
                select(func.count())
                .select_from(WorkflowInstance)
                .where(WorkflowInstance.state == WorkflowState.CANCELLED)
            )
        lines.append(f"check: {registered:,} overdue steps registered, {cancelled:,} instances cancelled")
        return lines


async def main_async(args: argparse.Namespace) -> None:
    backends = [("SQLite", None)] + ([("PostgreSQL", args.postgres)] if args.postgres else [])
    for label, url in backends:
        print(f"== {label}")
        for line in await bench_to_do(url, args.instances, args.queue):
            print("  " + line)
        for line in await bench_sweeps(url, args.stale):
            print("  " + line)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--queue", type=int, default=500)
    parser.add_argument("--stale", type=int, default=100_000)
    parser.add_argument("--postgres")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
