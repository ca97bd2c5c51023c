"""The overdue register and the monthly circular over GraphQL, after the sweep ran (TRF-4, MON-2)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from backend.clock import SHANGHAI, FixedClock
from backend.domain.actor import SystemActor
from backend.domain.workflows.definitions import StepSpec, UnitRef, WorkflowContext, WorkflowDefinition
from backend.domain.workflows.engine import start_workflow
from backend.domain.workflows.sweeps import run_sweeps
from backend.models import Unit
from backend.models.enums import Role
from tests.api import COUNTY_LEADER, Api

CIRCULAR = "query($m: String!) { overdueCircular(month: $m) { unitName count } }"
STEPS = "query($m: String!) { overdueSteps(month: $m) { nodes { stepName actingRole dueOn actingUnit { name } } } }"
REVIEW = WorkflowDefinition(
    kind="overdue_api_test",
    title="测试",
    steps=(
        StepSpec("学校审核", UnitRef.SUBJECT_SCHOOL, Role.LEADER, 10),
        StepSpec("区县审核", UnitRef.department_of(), Role.REGISTRAR, 10),
    ),
)


async def test_the_county_reads_its_schools_overdue_steps(api: Api) -> None:
    # RULES: TRF-4, MON-2
    clock = api.runtime.clock
    assert isinstance(clock, FixedClock)
    clock.set(datetime(2026, 11, 2, 9, tzinfo=SHANGHAI))
    async with api.runtime.unit_of_work() as uow:
        schools = (
            await uow.session.scalars(select(Unit).where(Unit.code.in_(["2134010401", "2134020201"])))
        ).all()
        for number, school in enumerate(sorted(schools, key=lambda unit: unit.code)):
            await start_workflow(
                uow,
                actor=SystemActor(),
                definition=REVIEW,
                subject_type="student_record",
                subject_id=900_000 + number,
                context=WorkflowContext(subject_school=school),
            )
    clock.set(datetime(2026, 11, 17, 0, 5, tzinfo=SHANGHAI))  # the 10 working days ended on 11-16
    assert (await run_sweeps(api.runtime.unit_of_work)).overdue_recorded == 2

    county = await api.login(COUNTY_LEADER)  # 蜀山区: sees its own school, not 芜湖's
    circular = await api.post(CIRCULAR, {"m": "2026-11"}, token=county)
    steps = await api.post(STEPS, {"m": "2026-11"}, token=county)
    bad_month = await api.post(CIRCULAR, {"m": "2026-13"}, token=county)

    assert circular["data"]["overdueCircular"] == [{"unitName": "合肥市蜀山区琥珀小学", "count": 1}]
    assert steps["data"]["overdueSteps"]["nodes"] == [
        {
            "stepName": "学校审核",
            "actingRole": "LEADER",
            "dueOn": "2026-11-16",
            "actingUnit": {"name": "合肥市蜀山区琥珀小学"},
        }
    ]
    assert bad_month["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "month"}
