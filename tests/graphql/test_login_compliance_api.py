"""Weekly-login monitoring over the API on the demo province: the job, the report, the download (MON-1)."""

from __future__ import annotations

import io
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import func, select

from backend.clock import FixedClock
from backend.domain.actor import SystemActor
from backend.domain.monitoring.logins import send_login_reminders
from backend.domain.workflows.definitions import WorkflowContext, registration_review
from backend.domain.workflows.engine import start_workflow
from backend.jobs import run_due_jobs
from backend.models import AuditEntry, LoginReminder, Notification, Unit
from tests.api import COUNTY_LEADER, SCHOOL_REGISTRAR, Api
from tests.conftest import DEFAULT_NOW

REPORT = """
query($u: ID, $d: Int! = 5) {
  loginCompliance(unitId: $u, pendingOlderThanWorkingDays: $d) {
    unit { name }
    isoWeek
    lines { unitName ownLevel accounts compliant nonCompliant percentage signIns pendingSteps }
    total { accounts compliant nonCompliant percentage signIns signInsPerAccount pendingSteps }
    nonCompliantCount
    nonCompliantAccounts(first: 3) { username unitName roles lastSignInAt daysAbsent }
  }
}
"""
NOTIFICATIONS = "{ notifications { kind payload } }"
DOWNLOAD = "/monitoring/login-compliance.xlsx"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHUSHAN_SCHOOLS = [
    "合肥市蜀山区琥珀小学",
    "合肥市蜀山区稻香村小学",
    "合肥市蜀山区南岗中学",
    "合肥市蜀山区西园九年一贯制学校",
    "合肥市第一中学",
]


async def _unit_id(api: Api, code: str) -> str:
    async with api.runtime.db.read_session() as session:
        return str(await session.scalar(select(Unit.id).where(Unit.code == code)))


async def _count(api: Api, model: type, *where: object) -> int:
    async with api.runtime.db.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


async def test_absent_accounts_are_reminded_and_the_county_reads_its_schools(api: Api) -> None:
    # RULES: MON-1, ORG-3, SEC-4
    clock = api.runtime.clock
    assert isinstance(clock, FixedClock)
    async with api.runtime.unit_of_work() as uow:  # a registration waiting on 琥珀小学's leader since 11-25
        school = await uow.session.scalar(select(Unit).where(Unit.code == "2134010401"))
        assert school is not None
        await start_workflow(
            uow,
            actor=SystemActor(),
            definition=registration_review(),
            subject_type="student_record",
            subject_id=990_001,
            context=WorkflowContext(subject_school=school),
        )

    # Given: a week and a day after the demo accounts were created, nobody having signed in.
    clock.set(DEFAULT_NOW + timedelta(days=8))
    runs = {run.name: run for run in await run_due_jobs(api.runtime)}
    again = await send_login_reminders(api.runtime.unit_of_work)

    # Every school and county registrar and leader of the demo (20 schools, 4 counties) was reminded once.
    assert runs["login-reminders"].result == {
        "reminded": 48,
        "escalated": 0,
        "leadersTold": 0,
        "supervisorsTold": 0,
        "unrouted": 0,
    }
    assert set(again.values()) == {0}
    assert await _count(api, LoginReminder) == 48

    # When: the county leader and one school registrar sign in; the leader reads the report.
    county = await api.login(COUNTY_LEADER)
    await api.login(SCHOOL_REGISTRAR)
    body = await api.post(REPORT, token=county)

    # Then: its own accounts (本级) and each of its five schools, not another county's.
    report = body["data"]["loginCompliance"]
    assert body.get("errors") is None
    assert report["unit"] == {"name": "蜀山区"}
    assert [(line["unitName"], line["ownLevel"]) for line in report["lines"]] == [
        ("蜀山区", True),
        *((name, False) for name in SHUSHAN_SCHOOLS),
    ]
    lines = {line["unitName"]: line for line in report["lines"]}
    assert lines["蜀山区"] == {
        "unitName": "蜀山区",
        "ownLevel": True,
        "accounts": 2,
        "compliant": 1,
        "nonCompliant": 1,
        "percentage": 50.0,
        "signIns": 1,
        "pendingSteps": 0,
    }
    assert (lines["合肥市蜀山区琥珀小学"]["compliant"], lines["合肥市蜀山区琥珀小学"]["pendingSteps"]) == (
        1,
        1,
    )
    assert report["total"] == {
        "accounts": 12,
        "compliant": 2,
        "nonCompliant": 10,
        "percentage": 16.7,
        "signIns": 2,
        "signInsPerAccount": 0.17,
        "pendingSteps": 1,
    }
    assert report["nonCompliantCount"] == 10
    first = report["nonCompliantAccounts"]
    assert len(first) == 3
    assert first[0] == {
        "username": "2134010401-lead",
        "unitName": "合肥市蜀山区琥珀小学",
        "roles": ["LEADER"],
        "lastSignInAt": None,
        "daysAbsent": 8,
    }
    stricter = await api.post(REPORT, {"d": 6}, token=county)  # the step has waited exactly 6 working days
    assert stricter["data"]["loginCompliance"]["total"]["pendingSteps"] == 0

    # The leader was told in the app too (the outbox takes it on to email and SMS).
    told = await api.post(NOTIFICATIONS, token=county)
    assert {"kind": "LOGIN_REMINDER", "payload": {"level": "ACCOUNT", "days": "7"}} in told["data"][
        "notifications"
    ]

    # Another county looks absent (ORG-3).
    other = await api.post(REPORT, {"u": await _unit_id(api, "340102")}, token=county)
    assert other["data"] is None
    assert [e["extensions"] for e in other["errors"]] == [{"code": "NOT_FOUND", "field": "unitId"}]


async def test_the_county_downloads_the_report_and_the_download_is_audited(api: Api) -> None:
    # RULES: MON-1, SEC-4, ORG-2, ORG-3
    clock = api.runtime.clock
    assert isinstance(clock, FixedClock)
    clock.set(DEFAULT_NOW + timedelta(days=15))
    await run_due_jobs(api.runtime)
    county = await api.login(COUNTY_LEADER)
    registrar = await api.login(SCHOOL_REGISTRAR)
    headers = {"authorization": f"Bearer {county}"}

    response = await api.client.get(DOWNLOAD, headers=headers)
    school = await api.client.get(
        DOWNLOAD, params={"unitId": await _unit_id(api, "2134010401")}, headers=headers
    )
    other = await api.client.get(DOWNLOAD, params={"unitId": await _unit_id(api, "340102")}, headers=headers)
    refused = await api.client.get(DOWNLOAD, headers={"authorization": f"Bearer {registrar}"})
    bad_week = await api.client.get(DOWNLOAD, params={"week": "2026-13-01"}, headers=headers)
    anonymous = await api.client.get(DOWNLOAD)

    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX
    assert response.headers["cache-control"] == "private, no-store"
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["汇总", "未按时登录账号"]
    summary = [row for row in book["汇总"].iter_rows(values_only=True) if row and row[0]]
    assert summary[-1][:6] == ("合计", None, None, 12, 2, 10)
    absent = list(book["未按时登录账号"].iter_rows(values_only=True))
    assert len(absent) == 1 + 10
    assert school.status_code == 200
    assert (other.status_code, other.json()["errors"][0]["code"]) == (404, "NOT_FOUND")
    assert (refused.status_code, refused.json()["errors"][0]["code"]) == (403, "FORBIDDEN")
    assert (bad_week.status_code, bad_week.json()["errors"][0]["field"]) == (400, "week")
    assert anonymous.status_code == 401
    # SEC-4: the two downloads that went out are in the audit log, the refused ones are not.
    assert await _count(api, AuditEntry, AuditEntry.operation == "login_compliance.exported") == 2
    # Fifteen days, and nobody in the units signs in: every absence went to the department above.
    assert await _count(api, LoginReminder, LoginReminder.level == "LEADER") == 48
    assert await _count(api, Notification, Notification.kind == "LOGIN_REMINDER") > 48
