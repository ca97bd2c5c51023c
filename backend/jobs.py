"""Scheduled jobs: run each due job once across all server processes, from the server or from cron.

Several stateless server processes share the database, and each runs a ``Scheduler`` that wakes every
minute; ``xueji jobs run-due`` does the same once, for deployments that prefer cron. Either way a job runs
only after its lease is taken in one guarded statement::

    UPDATE job_lease SET holder = :me, lease_until = :now + ttl, last_started_at = :now
     WHERE name = :job AND next_due_at <= :now AND (lease_until IS NULL OR lease_until < :now)

Of two processes exactly one matches. The winner runs the job in its own unit of work, then sets the next
due time and frees the lease, so a process that wakes a moment later finds the job not due: each due run
happens once. A process that dies mid-run leaves a lease that expires after ``ttl``, and the job is run
again — which is safe because every job is an idempotent function of "now" (the workflow sweeps are).
Each run that did something leaves an audit row ``job.completed`` (a failed one ``job.failed``), attributed
to the system; every run's result stays on its lease row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

import backend.domain.businesses  # noqa: F401 - registers every business's outcome handlers
from backend.db import UnitOfWork
from backend.domain.actor import SystemActor
from backend.domain.audit.service import record_audit
from backend.domain.monitoring.logins import send_login_reminders
from backend.domain.workflows.sweeps import Begin, run_sweeps
from backend.models import JobLease
from backend.notifications.jobs import deliver_notifications
from backend.runtime import Runtime

log = logging.getLogger(__name__)

# A job gets the way to open units of work: it decides how many transactions it needs.
JobFunction = Callable[[Begin], Awaitable[dict[str, Any]]]
SCHEDULER = SystemActor(name="scheduler")
WAKE_SECONDS = 60


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    run: JobFunction
    ttl: timedelta = timedelta(minutes=30)


async def _workflow_sweeps(begin: Begin) -> dict[str, Any]:
    return (await run_sweeps(begin)).as_json()


# Hourly: deadlines are dates, so one run a day would do; hourly catches up soon after a restart.
JOBS: tuple[Job, ...] = (
    Job("workflow-sweeps", timedelta(hours=1), _workflow_sweeps),
    Job("login-reminders", timedelta(hours=1), send_login_reminders),
    Job("notifications", timedelta(minutes=1), deliver_notifications),  # route, then email and SMS
)


@dataclass(frozen=True)
class JobRun:
    name: str
    ran: bool
    result: dict[str, Any] | None = None
    error: str | None = None


def holder_name() -> str:
    """Who holds a lease: host and process, for the operator reading ``job_lease``."""
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


async def run_due_jobs(
    runtime: Runtime, *, holder: str | None = None, jobs: tuple[Job, ...] = JOBS
) -> list[JobRun]:
    """Run every job that is due and whose lease this process wins; the others are skipped."""
    me = holder or holder_name()
    runs: list[JobRun] = []
    for job in jobs:
        if not await _acquire(runtime, job, me):
            runs.append(JobRun(job.name, ran=False))
            continue
        runs.append(await _run(runtime, job, me))
    return runs


async def _acquire(runtime: Runtime, job: Job, me: str) -> bool:
    now = runtime.clock.now()
    insert = postgresql.insert if runtime.db.engine.dialect.name == "postgresql" else sqlite.insert
    async with runtime.unit_of_work() as uow:
        # The lease row exists once; a new job is due at once.
        await uow.session.execute(
            insert(JobLease)
            .values(name=job.name, next_due_at=now, last_result={})
            .on_conflict_do_nothing(index_elements=["name"])
        )
        result = cast(
            CursorResult[Any],
            await uow.session.execute(
                update(JobLease)
                .where(
                    JobLease.name == job.name,
                    JobLease.next_due_at <= now,
                    or_(JobLease.lease_until.is_(None), JobLease.lease_until < now),
                )
                .values(holder=me, lease_until=now + job.ttl, last_started_at=now)
                .execution_options(synchronize_session=False)
            ),
        )
        return result.rowcount == 1


async def _run(runtime: Runtime, job: Job, me: str) -> JobRun:
    started = runtime.clock.now()
    try:
        result = await job.run(runtime.unit_of_work)
        if not did_work(result):
            # A run that changed nothing leaves no audit row (a per-minute job would write 1,440 a day);
            # its result is still on the lease row (``last_result``).
            async with runtime.unit_of_work() as uow:
                await _release(uow, job, me, next_due_at=_next_due(started, job.every), result=result)
            return JobRun(job.name, ran=True, result=result)
        async with runtime.unit_of_work() as uow:
            await record_audit(
                uow,
                actor=SCHEDULER,
                operation="job.completed",
                target_type="job",
                target_id=job.name,
                after={"holder": me, "result": result},
            )
    except Exception as error:  # noqa: BLE001 - a failed run is recorded and retried, never fatal
        log.exception("job %s failed", job.name)
        async with runtime.unit_of_work() as uow:
            await record_audit(
                uow,
                actor=SCHEDULER,
                operation="job.failed",
                target_type="job",
                target_id=job.name,
                after={"holder": me, "error": type(error).__name__},
            )
            await _release(uow, job, me, next_due_at=started + timedelta(minutes=5), result={"failed": True})
        return JobRun(job.name, ran=True, error=type(error).__name__)
    async with runtime.unit_of_work() as uow:
        await _release(uow, job, me, next_due_at=_next_due(started, job.every), result=result)
    return JobRun(job.name, ran=True, result=result)


async def _release(
    uow: UnitOfWork, job: Job, me: str, *, next_due_at: datetime, result: dict[str, Any]
) -> None:
    await uow.session.execute(
        update(JobLease)
        .where(JobLease.name == job.name, JobLease.holder == me)
        .values(
            holder=None,
            lease_until=None,
            next_due_at=next_due_at,
            last_finished_at=uow.clock.now(),
            last_result=result,
        )
        .execution_options(synchronize_session=False)
    )


def did_work(result: Any) -> bool:
    """Whether a job's result reports anything done: a non-zero count anywhere in it."""
    if isinstance(result, bool):
        return result
    if isinstance(result, int | float):
        return result != 0
    if isinstance(result, dict):
        return any(did_work(value) for value in result.values())
    if isinstance(result, list | tuple):
        return any(did_work(value) for value in result)
    return False


def _next_due(started: datetime, every: timedelta) -> datetime:
    """The next boundary of ``every`` after ``started`` (UTC epoch aligned), so runs stay on the hour."""
    period = every.total_seconds()
    epoch = started.timestamp()
    return datetime.fromtimestamp((epoch // period + 1) * period, tz=started.tzinfo)


async def lease_of(runtime: Runtime, name: str) -> JobLease | None:
    """A job's lease row, detached: for the operator and tests."""
    async with runtime.db.read_session() as session:
        lease = await session.scalar(select(JobLease).where(JobLease.name == name))
        if lease is not None:
            session.expunge(lease)
        return lease


class Scheduler:
    """Wakes every minute inside a server process and runs the due jobs it wins (see the module)."""

    def __init__(self, runtime: Runtime, *, wake_seconds: float = WAKE_SECONDS) -> None:
        self.runtime = runtime
        self.wake_seconds = wake_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="xueji-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await run_due_jobs(self.runtime)
            except Exception:  # noqa: BLE001 - the database may be briefly away; try again next time
                log.exception("scheduler round failed")
            await asyncio.sleep(self.wake_seconds)
