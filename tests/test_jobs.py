"""Scheduled jobs: each due run happens once across processes; failures are recorded and retried."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from backend.clock import FixedClock
from backend.config import Settings
from backend.domain.workflows.sweeps import Begin
from backend.jobs import JOBS, Job, Scheduler, lease_of, run_due_jobs
from backend.models import AuditEntry, JobLease
from backend.runtime import Runtime

SWEEPS = tuple(job for job in JOBS if job.name == "workflow-sweeps")


@pytest.fixture
async def runtime(settings: Settings, clock: FixedClock) -> AsyncIterator[Runtime]:
    built = Runtime.build(replace(settings, broadcast_url="memory://"), clock)
    await built.start()
    yield built
    await built.stop()


async def operations(runtime: Runtime, name: str) -> list[str]:
    async with runtime.db.read_session() as session:
        rows = await session.scalars(
            select(AuditEntry.operation).where(AuditEntry.target_type == "job", AuditEntry.target_id == name)
        )
        return list(rows)


async def test_a_due_job_runs_once_then_waits_for_its_next_time(runtime: Runtime, clock: FixedClock) -> None:
    # RULES: TRF-4 (the sweeps run on a schedule, attributed to the system)
    first = await run_due_jobs(runtime, holder="a", jobs=SWEEPS)
    second = await run_due_jobs(runtime, holder="b", jobs=SWEEPS)
    clock.advance(timedelta(hours=1))
    third = await run_due_jobs(runtime, holder="b", jobs=SWEEPS)

    assert [(r.name, r.ran) for r in first] == [("workflow-sweeps", True)]
    assert first[0].result == {
        "overdueRecorded": 0,
        "approved": 0,
        "retrievalsCancelled": 0,
        "cleared": 0,
        "deadlineReminders": 0,
        "notificationsRemoved": 0,
    }
    assert [r.ran for r in second] == [False]
    assert [r.ran for r in third] == [True]
    assert await operations(runtime, "workflow-sweeps") == []  # nothing done, nothing to audit
    lease = await lease_of(runtime, "workflow-sweeps")
    assert lease is not None
    assert (lease.holder, lease.lease_until) == (None, None)
    assert lease.next_due_at > clock.now()


async def test_a_dead_holders_lease_expires(runtime: Runtime, clock: FixedClock) -> None:
    await run_due_jobs(runtime, holder="a", jobs=SWEEPS)
    async with runtime.unit_of_work() as uow:
        await uow.session.execute(
            update(JobLease).values(
                holder="gone", lease_until=clock.now() + timedelta(minutes=30), next_due_at=clock.now()
            )
        )

    blocked = await run_due_jobs(runtime, holder="b", jobs=SWEEPS)
    clock.advance(timedelta(minutes=31))
    taken = await run_due_jobs(runtime, holder="b", jobs=SWEEPS)

    assert [r.ran for r in blocked] == [False]
    assert [r.ran for r in taken] == [True]


async def test_a_failing_job_is_recorded_and_retried(runtime: Runtime, clock: FixedClock) -> None:
    calls: list[int] = []

    async def flaky(begin: Begin) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return {"sent": 1}

    job = Job("flaky", timedelta(days=1), flaky)
    failed = await run_due_jobs(runtime, holder="a", jobs=(job,))
    too_soon = await run_due_jobs(runtime, holder="a", jobs=(job,))
    clock.advance(timedelta(minutes=5))
    retried = await run_due_jobs(runtime, holder="a", jobs=(job,))

    assert (failed[0].ran, failed[0].error) == (True, "RuntimeError")
    assert [r.ran for r in too_soon] == [False]
    assert retried[0].result == {"sent": 1}
    assert await operations(runtime, "flaky") == ["job.failed", "job.completed"]


async def test_only_runs_that_did_something_are_audited(runtime: Runtime, clock: FixedClock) -> None:
    results = iter([{"sent": 0, "nested": {"routed": 0}}, {"sent": 0, "nested": {"routed": 2}}])

    async def counted(begin: Begin) -> dict[str, Any]:
        return next(results)

    job = Job("counted", timedelta(minutes=1), counted)
    await run_due_jobs(runtime, holder="a", jobs=(job,))
    idle = await operations(runtime, "counted")
    clock.advance(timedelta(minutes=1))
    await run_due_jobs(runtime, holder="a", jobs=(job,))
    lease = await lease_of(runtime, "counted")

    assert idle == []
    assert await operations(runtime, "counted") == ["job.completed"]
    assert lease is not None
    assert lease.last_result == {"sent": 0, "nested": {"routed": 2}}


async def test_the_scheduler_runs_due_jobs_in_the_server(runtime: Runtime) -> None:
    scheduler = Scheduler(runtime, wake_seconds=0.01)
    scheduler.start()
    for _ in range(200):
        lease = await lease_of(runtime, "workflow-sweeps")
        if lease is not None and lease.last_finished_at is not None:
            break
        await asyncio.sleep(0.01)
    await scheduler.stop()
    assert lease is not None
    assert lease.last_finished_at is not None


def test_two_processes_run_a_due_sweep_once(settings: Settings, tmp_path: Any) -> None:
    # RULES: TRF-4 — with several server processes, each due sweep runs once
    env = {
        **os.environ,
        "XUEJI_DATABASE_URL": settings.database_url,
        "XUEJI_VAR_DIR": str(tmp_path / "var"),
        "XUEJI_BROADCAST_URL": "memory://",
    }
    command = [sys.executable, "-m", "backend.cli", "jobs", "run-due"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]

    assert [process.returncode for process in processes] == [0, 0], outputs
    # Each process prints one line per job; the sweeps' lines are the ones this test is about.
    lines = [line for out, _ in outputs for line in out.splitlines() if line.startswith("workflow-sweeps:")]
    assert sum(line.startswith("workflow-sweeps: {") for line in lines) == 1, lines
    assert lines.count("workflow-sweeps: not due or held by another process") == 1, lines

    async def finished() -> bool:
        runtime = Runtime.build(replace(settings, broadcast_url="memory://"))
        try:
            lease = await lease_of(runtime, "workflow-sweeps")
            return lease is not None and lease.last_finished_at is not None and lease.holder is None
        finally:
            await runtime.db.dispose()

    assert asyncio.run(finished())  # the winner finished and freed the lease
