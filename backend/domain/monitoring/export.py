"""The login-compliance report as an Excel workbook (MON-1), for circulars and the monthly report.

Two sheets: 汇总 (the summary: one row per child unit, the unit's own accounts and the total) and
未按时登录账号 (the non-compliant accounts, longest absent first). Times are Beijing wall-clock time:
Excel has no time zones. The list names people and their habits, so the download is logged like every
export (SEC-4): ``export_login_compliance`` takes a unit of work and writes the audit row, which must
commit before the bytes go out.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from backend.calendar import WorkingDayCalendar
from backend.clock import local
from backend.db import UnitOfWork
from backend.domain.actor import Actor
from backend.domain.audit.service import record_audit
from backend.domain.monitoring.report import (
    DEFAULT_PENDING_WORKING_DAYS,
    ComplianceLine,
    LoginComplianceReport,
    login_compliance,
)
from backend.models.enums import Role, UnitKind

SUMMARY_TITLE = "汇总"
ABSENT_TITLE = "未按时登录账号"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
UNIT_KIND_NAMES = {
    UnitKind.MINISTRY: "教育部",
    UnitKind.PROVINCE: "省",
    UnitKind.CITY: "地市",
    UnitKind.COUNTY: "区县",
    UnitKind.SCHOOL: "学校",
}
ROLE_NAMES = {Role.REGISTRAR: "学籍管理员", Role.LEADER: "学籍主管领导"}
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_TOTAL_FONT = Font(bold=True)


@dataclass(frozen=True)
class ComplianceExport:
    data: bytes
    filename: str
    report: LoginComplianceReport


async def export_login_compliance(
    uow: UnitOfWork,
    *,
    actor: Actor,
    unit_id: int | None = None,
    week: date | None = None,
    pending_older_than_working_days: int = DEFAULT_PENDING_WORKING_DAYS,
    calendar: WorkingDayCalendar | None = None,
) -> ComplianceExport:
    """The report of ``login_compliance`` as ``.xlsx``; the download is audited (MON-1, SEC-4).

    Raises:
        ForbiddenError, NotFoundError, ValidationError: as ``login_compliance``.
    """
    report = await login_compliance(
        uow.session,
        actor,
        now=uow.clock.now(),
        unit_id=unit_id,
        week=week,
        pending_older_than_working_days=pending_older_than_working_days,
        calendar=calendar,
    )
    data = await asyncio.to_thread(compliance_xlsx, report)
    await record_audit(
        uow,
        actor=actor,
        operation="login_compliance.exported",
        target_type="unit",
        target_id=report.unit.id,
        after={
            "week": report.iso_week,
            "accounts": report.total.accounts,
            "nonCompliant": len(report.non_compliant),
            "bytes": len(data),
        },
    )
    day = local(report.window_end).date().isoformat()
    label = report.iso_week or day
    return ComplianceExport(data, f"账号登录情况-{report.unit.name}-{label}.xlsx", report)


SUMMARY_HEADERS = (
    "单位",
    "单位代码",
    "类型",
    "监测账号数",
    "按时登录账号数",
    "未按时登录账号数",
    "登录率(%)",
    "登录次数",
    "人均登录次数(次/周)",
    "超期未办待办数",
)
ABSENT_HEADERS = ("用户名", "姓名", "所属单位", "单位代码", "角色", "最近登录时间", "未登录天数")


def compliance_xlsx(report: LoginComplianceReport) -> bytes:
    """The two sheets described in the module docstring."""
    book = Workbook()
    summary = book.active
    summary.title = SUMMARY_TITLE
    summary.append(["学籍系统账号登录情况统计"])
    summary["A1"].font = Font(bold=True, size=14)
    summary.append(["统计单位", report.unit.name])
    summary.append(["统计区间", _when(report.window_start), "至", _when(report.window_end)])
    if report.iso_week:
        summary.append(["统计周", report.iso_week])
    summary.append(
        [
            "说明",
            "监测学校和区县的学籍管理员、学籍主管领导账号；统计区间内至少登录一次为按时登录；"
            f"超期未办待办为等待超过 {report.pending_older_than_working_days} 个工作日的审核步骤",
        ]
    )
    summary.append([])
    header_row = summary.max_row + 1
    _header(summary, SUMMARY_HEADERS, header_row)
    for line in report.lines:
        summary.append(_summary_row(line))
    summary.append(_summary_row(report.total, total=True))
    for cell in summary[summary.max_row]:
        cell.font = _TOTAL_FONT
    _widths(summary, (30, 14, 8, 12, 14, 16, 10, 10, 18, 16))
    summary.freeze_panes = f"A{header_row + 1}"

    absent = book.create_sheet(ABSENT_TITLE)
    _header(absent, ABSENT_HEADERS, 1)
    for account in report.non_compliant:
        absent.append(
            [
                account.username,
                account.display_name,
                account.unit_name,
                account.unit_code,
                "、".join(ROLE_NAMES.get(role, str(role)) for role in account.roles),
                _when(account.last_sign_in_at) if account.last_sign_in_at else "从未登录",
                account.days_absent,
            ]
        )
        absent.cell(row=absent.max_row, column=4).number_format = "@"
        if account.last_sign_in_at:
            absent.cell(row=absent.max_row, column=6).number_format = DATETIME_FORMAT
    _widths(absent, (20, 26, 30, 14, 24, 18, 12))
    absent.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _summary_row(line: ComplianceLine, *, total: bool = False) -> list[Any]:
    name = "合计" if total else (f"{line.unit_name}（本级）" if line.own_level else line.unit_name)
    return [
        name,
        None if total else line.unit_code,
        None if total else UNIT_KIND_NAMES[line.unit_kind],
        line.accounts,
        line.compliant,
        line.non_compliant,
        line.percentage,
        line.sign_ins,
        line.sign_ins_per_account,
        line.pending_steps,
    ]


def _header(sheet: Any, labels: tuple[str, ...], row: int) -> None:
    for column, label in enumerate(labels, start=1):
        cell = sheet.cell(row=row, column=column, value=label)
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL


def _widths(sheet: Any, widths: tuple[int, ...]) -> None:
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width


def _when(moment: datetime) -> datetime:
    """Beijing wall-clock time without a zone: Excel cannot store one."""
    return local(moment).replace(tzinfo=None, microsecond=0)
