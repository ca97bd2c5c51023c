"""In-school registration from an Excel list (在校生注册, REG-1): a school's students in one file.

REG-1 is the bulk first collection of the students a school already has, so its list carries every field
of the record catalogue (``fields.CATALOGUE``, by Chinese label), the class by name, and the first family
member or guardian (columns ``监护人`` + the guardian field's label). Cells are checked by the same catalogue
as a form, so a code column accepts the code or its Chinese name.

Each row is checked on its own; a bad row is reported (Excel row number, column label, Chinese message)
and never blocks the good ones. A repeated ID number within the file keeps the first row. Good rows
become draft records (``service.create_record``) in the one transaction of the call: the whole file or,
when the file itself is refused (unreadable, wrong columns, no rows), nothing.

Duplicates follow the import-of-existing-records policy (REG-1, PRB-2, PRB-3): a student whose ID number
already has a record elsewhere is registered and the group flagged type 2 — which of the two records
remains is then worked out by evidence and, across jurisdictions, arbitration (PRB-2, ORG-4); the same
name, gender and birth date without an ID is flagged type 3.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select

from backend.clock import local_today
from backend.db import UnitOfWork
from backend.domain.actor import Actor
from backend.domain.attachments.service import AttachmentPurpose, default_store, load_bytes
from backend.domain.audit.service import record_audit
from backend.domain.continuation.reader import Cell, is_blank, normalize_label, read_sheet
from backend.domain.errors import NotFoundError
from backend.domain.permissions import Operation, authorize
from backend.domain.records.duplicates import check_duplicates
from backend.domain.records.fields import (
    CATALOGUE,
    GUARDIAN_CATALOGUE,
    FieldKind,
    FieldSpec,
    validate_fields,
    validate_guardians,
)
from backend.domain.records.service import create_record, require_open
from backend.domain.settings import load_province_settings
from backend.models import Attachment, ProblemRecord, SchoolClass, Unit
from backend.models.enums import RegistrationKind

CLASS = "班级"
GUARDIAN_PREFIX = "监护人"
# The student's fields a list can carry: all but those set by the class (grade, class) and the photo,
# which is an upload of its own.
STUDENT_FIELDS: tuple[FieldSpec, ...] = tuple(
    spec for spec in CATALOGUE.values() if not spec.managed and spec.kind is not FieldKind.INT
)
GUARDIAN_FIELDS: tuple[FieldSpec, ...] = tuple(GUARDIAN_CATALOGUE.values())
REQUIRED = (
    CLASS,
    *(normalize_label(s.label_zh) for s in STUDENT_FIELDS if s.required),
    *(normalize_label(GUARDIAN_PREFIX + s.label_zh) for s in GUARDIAN_FIELDS if s.required),
)
OPTIONAL = (
    *(normalize_label(s.label_zh) for s in STUDENT_FIELDS if not s.required),
    *(normalize_label(GUARDIAN_PREFIX + s.label_zh) for s in GUARDIAN_FIELDS if not s.required),
)
# Header label -> ("student" | "guardian", catalogue key); and back, for naming columns in errors.
COLUMN_KEYS: dict[str, tuple[str, str]] = {
    **{normalize_label(s.label_zh): ("student", s.key) for s in STUDENT_FIELDS},
    **{normalize_label(GUARDIAN_PREFIX + s.label_zh): ("guardian", s.key) for s in GUARDIAN_FIELDS},
}
STUDENT_LABELS = {s.key: s.label_zh for s in STUDENT_FIELDS}
GUARDIAN_LABELS = {s.key: GUARDIAN_PREFIX + s.label_zh for s in GUARDIAN_FIELDS}


@dataclass(frozen=True)
class ListReport:
    """What ``import_registration_list`` did: records made, problem records opened, rows refused."""

    record_ids: list[int] = field(default_factory=list)
    problems: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0


async def import_registration_list(uow: UnitOfWork, *, actor: Actor, attachment_id: int) -> ListReport:
    """Register the school's students from an uploaded list (REG-1) as drafts for review (REG-4).

    Raises:
        ForbiddenError: not a school registrar.
        NotFoundError: no such import file of this school.
        RegistrationClosedError: the province has not opened in-school registration now (REG-1).
        ImportFileError, ImportColumnsError, ImportEmptyError, ImportTooManyRowsError: the file is
            rejected and nothing is written.
    """
    authorize(actor, Operation.MANAGE_RECORDS)
    session = uow.session
    school = await session.get(Unit, actor.unit_id)
    assert school is not None
    today = local_today(uow.clock)
    require_open(await load_province_settings(session, school.path), RegistrationKind.IN_SCHOOL, today)
    attachment = await session.scalar(
        select(Attachment).where(
            Attachment.id == attachment_id,
            Attachment.unit_id == actor.unit_id,
            Attachment.purpose == AttachmentPurpose.IMPORT,
        )
    )
    if attachment is None:
        raise NotFoundError(field="attachmentId")
    data = await load_bytes(attachment, default_store(uow))
    sheet = await asyncio.to_thread(read_sheet, data, required=REQUIRED, optional=OPTIONAL)
    classes = {
        c.name: c
        for c in await session.scalars(select(SchoolClass).where(SchoolClass.school_id == school.id))
    }

    report = ListReport(rows=len(sheet.rows))
    first_row_of: dict[tuple[object, str], int] = {}
    for row in sheet.rows:
        cells = dict(zip(sheet.columns, row.cells, strict=True))
        errors: list[dict[str, Any]] = []
        school_class = classes.get(_text(cells[CLASS]))
        if school_class is None:
            errors.append(_error(row.number, CLASS, "UNKNOWN_CLASS", f"本校没有班级“{_text(cells[CLASS])}”"))
        student: dict[str, Any] = {}
        guardian: dict[str, Any] = {}
        for label, value in cells.items():
            if label == CLASS or is_blank(value):
                continue
            kind, key = COLUMN_KEYS[label]
            (student if kind == "student" else guardian)[key] = _value(value)
        clean, field_errors = validate_fields(student, today=today, partial=False)
        guardians, guardian_errors = validate_guardians([guardian], today=today)
        errors += [
            _error(row.number, _column_of(e.key), e.code, e.message_zh)
            for e in field_errors + guardian_errors
        ]
        identity = (clean.get("idType"), clean.get("idNumber") or "")
        if not errors and identity[1]:
            if identity in first_row_of:
                errors.append(
                    _error(
                        row.number,
                        STUDENT_LABELS["idNumber"],
                        "DUPLICATE_IN_FILE",
                        f"与第{first_row_of[identity]}行的身份证件号码相同，该行未导入",
                    )
                )
            else:
                first_row_of[identity] = row.number
        if errors:
            report.errors.extend(errors)
            continue
        assert school_class is not None
        findings = await check_duplicates(
            session,
            id_type=clean["idType"],
            id_number=clean.get("idNumber"),
            name=clean["name"],
            gender=clean["gender"],
            birth_date=clean["birthDate"],
        )
        record = await create_record(
            uow,
            actor=actor,
            kind=RegistrationKind.IN_SCHOOL,
            school=school,
            school_class=school_class,
            clean=clean,
            guardians=guardians,
            findings=findings,
            from_import_of_existing=True,
        )
        report.record_ids.append(record.id)
    if report.record_ids:
        opened = await session.scalars(
            select(ProblemRecord.problem_type).where(ProblemRecord.record_id.in_(report.record_ids))
        )
        for problem_type in opened:
            report.problems[str(problem_type)] = report.problems.get(str(problem_type), 0) + 1
    await record_audit(
        uow,
        actor=actor,
        operation="registration_list.imported",
        target_type="attachment",
        target_id=attachment.id,
        after={
            "rows": report.rows,
            "registered": len(report.record_ids),
            "refused": len({e["row"] for e in report.errors}),
            "problems": report.problems,
        },
    )
    return report


def _value(value: Cell) -> Any:
    """A cell as the catalogue takes it: whole numbers typed into number cells become text or ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, int | str | date | bool):
        return value
    return str(value)


def _text(value: Cell) -> str:
    converted = _value(value)
    return str(converted).strip() if not isinstance(converted, str) else converted.strip()


def _column_of(key: str) -> str | None:
    if key.startswith("guardians[0]."):
        return GUARDIAN_LABELS.get(key.removeprefix("guardians[0]."))
    return STUDENT_LABELS.get(key)


def _error(row: int, column: str | None, code: str, message: str) -> dict[str, Any]:
    return {"row": row, "column": column, "code": code, "message": message, "level": "error"}


# --- the template ----------------------------------------------------------------------------------------

_HEADER_FONT = Font(bold=True)
_REQUIRED_FILL = PatternFill("solid", fgColor="FCE4D6")
_OPTIONAL_FILL = PatternFill("solid", fgColor="DDEBF7")
TEMPLATE_ROWS = 5000


def template_xlsx() -> bytes:
    """The empty list: required columns first (shaded), drop-downs for coded fields from a code sheet."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "在校生名单"
    codes = book.create_sheet("代码表")
    codes.sheet_state = "hidden"
    labels: Sequence[tuple[str, FieldSpec | None]] = [
        (CLASS, None),
        *((s.label_zh, s) for s in STUDENT_FIELDS if s.required),
        *((GUARDIAN_PREFIX + s.label_zh, s) for s in GUARDIAN_FIELDS if s.required),
        *((s.label_zh, s) for s in STUDENT_FIELDS if not s.required),
        *((GUARDIAN_PREFIX + s.label_zh, s) for s in GUARDIAN_FIELDS if not s.required),
    ]
    code_column = 0
    for index, (label, spec) in enumerate(labels, start=1):
        cell = sheet.cell(row=1, column=index, value=label)
        cell.font = _HEADER_FONT
        cell.fill = _REQUIRED_FILL if spec is None or spec.required else _OPTIONAL_FILL
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(10, 2 * len(label) + 2)
        if spec is None:
            continue
        if spec.kind is FieldKind.TEXT or spec.key == "idNumber":
            sheet.column_dimensions[letter].number_format = "@"
        choices: list[str] | None = None
        if spec.choices:
            choices = list(spec.choices.values())
        elif spec.kind is FieldKind.BOOL:
            choices = ["是", "否"]
        if choices:
            code_column += 1
            code_letter = get_column_letter(code_column)
            codes.cell(row=1, column=code_column, value=label)
            for offset, name in enumerate(choices, start=2):
                codes.cell(row=offset, column=code_column, value=name)
            validation = DataValidation(
                type="list",
                formula1=f"'代码表'!${code_letter}$2:${code_letter}${len(choices) + 1}",
                allow_blank=True,
                showErrorMessage=True,
                errorTitle=label,
                error=f"请从下拉列表中选择{label}",
            )
            validation.add(f"{letter}2:{letter}{TEMPLATE_ROWS}")
            sheet.add_data_validation(validation)
    sheet.freeze_panes = "B2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
