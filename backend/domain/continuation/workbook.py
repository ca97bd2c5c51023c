"""Writing the Excel files of continuation: the empty list template and the sheet exported for filling in.

Both are built with openpyxl; the export in write-only mode, so memory stays flat however long the list.
Cells that hold ID numbers or national numbers use the text format ``@``: typed into a general cell,
an 18-digit number becomes a float and loses its last digits (and any leading zero) for good.

The exported sheet (REG-8 (3)) is protected: every cell is locked unless made editable. Editable are the
fill-in columns, and the identity cells of rows that are not matched yet. The identity cells of MATCHED
rows stay locked, as do the hidden row id and the classification result. The protection password is
random and thrown away: nobody needs to lift it, and the server refuses changed identity cells of
matched rows anyway (``IDENTITY_LOCKED``), since sheet protection is only a convenience for honest users.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from backend.domain.continuation import columns as col
from backend.domain.continuation.reader import MAX_ROWS
from backend.models.enums import Gender, IdType, ImportRowState, Stage

TEXT = "@"
DATE_FORMAT = "yyyy-mm-dd"
SHEET_TITLE = "新生名单"
WIDTHS = {col.NAME: 12, col.GENDER: 8, col.BIRTH_DATE: 14, col.ID_TYPE: 24, col.ID_NUMBER: 22}
TEXT_COLUMNS = frozenset({col.ID_NUMBER, col.NATIONAL_NUMBER})
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_LOCKED_FILL = PatternFill("solid", fgColor="EDEDED")
_UNLOCKED = Protection(locked=False)


@dataclass(frozen=True)
class ExportRow:
    """What the sheet shows of one stored row."""

    row_id: int
    state: ImportRowState
    name: str | None
    gender: Gender | None
    birth_date: date | None
    id_type: IdType | None
    id_number: str | None
    national_number: str | None
    result: str
    details: dict[str, Any]


def template_xlsx(target_stage: Stage = Stage.PRIMARY) -> bytes:
    """An empty list to download: the header, drop-down lists and formats that keep the data importable.

    Five columns (REG-8), six with 学籍号 first for vocational schools (REG-9). 性别 and 身份证件类型
    offer drop-down lists, 出生日期 accepts only dates from 1900 to today, and the number columns are
    formatted as text.
    """
    book = Workbook()
    sheet = book.active
    sheet.title = SHEET_TITLE
    labels = col.list_columns(target_stage)
    sheet.append(list(labels))
    for index, label in enumerate(labels, start=1):
        letter = get_column_letter(index)
        header = sheet.cell(row=1, column=index)
        header.font, header.fill = _HEADER_FONT, _HEADER_FILL
        dimension = sheet.column_dimensions[letter]
        dimension.width = WIDTHS.get(label, 24)
        if label in TEXT_COLUMNS:
            dimension.number_format = TEXT
        elif label == col.BIRTH_DATE:
            dimension.number_format = DATE_FORMAT
    sheet.freeze_panes = "A2"
    for validation in _validations(labels, last_row=MAX_ROWS + 1):
        sheet.data_validations.append(validation)
    return _save(book)


def export_xlsx(target_stage: Stage, rows: Iterable[ExportRow]) -> bytes:
    """The list with the fields to fill in, for REG-8 (3) (see the module docstring for what is locked)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(SHEET_TITLE)
    labels = col.sheet_columns(target_stage)
    identity = col.list_columns(target_stage)
    for index, label in enumerate(labels, start=1):
        dimension = sheet.column_dimensions[get_column_letter(index)]
        dimension.width = WIDTHS.get(label, 16 if label != col.RESULT else 30)
        if label == col.ROW_ID:
            dimension.hidden = True
        elif label not in identity and label != col.RESULT:
            # Empty fill-in cells are never written: the column's style makes them editable text.
            dimension.protection = _UNLOCKED
            dimension.number_format = TEXT
    sheet.freeze_panes = "B2"
    protection = sheet.protection
    protection.sheet = True
    protection.password = secrets.token_urlsafe(16)
    protection.formatColumns = False
    protection.formatRows = False

    sheet.append([_header(sheet, label) for label in labels])
    count = 0
    for row in rows:
        count += 1
        sheet.append(_sheet_row(sheet, row, target_stage))
    for validation in _validations(labels, last_row=count + 1):
        sheet.data_validations.append(validation)
    return _save(book)


def _header(sheet: Any, label: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=label)
    cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
    return cell


def _sheet_row(sheet: Any, row: ExportRow, target_stage: Stage) -> list[Any]:
    locked = row.state is ImportRowState.MATCHED
    identity: list[Any] = [
        row.name,
        col.GENDER_NAMES.get(row.gender) if row.gender else None,
        row.birth_date,
        col.ID_TYPE_NAMES.get(row.id_type) if row.id_type else None,
        row.id_number,
    ]
    if target_stage is Stage.VOCATIONAL:
        identity.insert(0, row.national_number)
    labels = col.list_columns(target_stage)
    cells: list[Any] = [row.row_id]
    for label, value in zip(labels, identity, strict=True):
        cell = WriteOnlyCell(sheet, value=value)
        if label in TEXT_COLUMNS:
            cell.number_format = TEXT
        elif label == col.BIRTH_DATE:
            cell.number_format = DATE_FORMAT
        if locked:
            cell.fill = _LOCKED_FILL
        else:
            cell.protection = _UNLOCKED
        cells.append(cell)
    cells.append(row.result)
    for fill_in in col.FILL_IN_FIELDS:
        value = row.details.get(fill_in.key)
        if value in (None, ""):
            cells.append(None)
            continue
        cell = WriteOnlyCell(sheet, value=str(value))
        cell.number_format = TEXT
        cell.protection = _UNLOCKED
        cells.append(cell)
    return cells


def _validations(labels: Sequence[str], *, last_row: int) -> list[DataValidation]:
    """Drop-down lists for 性别 and 身份证件类型, a date range for 出生日期, a length limit for numbers."""
    found: list[DataValidation] = []
    for index, label in enumerate(labels, start=1):
        letter = get_column_letter(index)
        area = f"{letter}2:{letter}{max(last_row, 2)}"
        if label == col.GENDER:
            validation = DataValidation(type="list", formula1='"男,女"', allow_blank=True)
            validation.error, validation.prompt = "请选择“男”或“女”", "请选择：男、女"
        elif label == col.ID_TYPE:
            choices = ",".join(col.ID_TYPE_CHOICES)
            validation = DataValidation(type="list", formula1=f'"{choices}"', allow_blank=True)
            validation.error, validation.prompt = "请从下拉列表中选择身份证件类型", "请从下拉列表中选择"
        elif label == col.BIRTH_DATE:
            validation = DataValidation(
                type="date",
                operator="between",
                formula1="DATE(1900,1,1)",
                formula2="TODAY()",
                allow_blank=True,
            )
            validation.error, validation.prompt = "请填写1900年以后、不晚于今天的日期", "日期，如 2019-09-01"
        elif label in TEXT_COLUMNS:
            validation = DataValidation(
                type="textLength", operator="lessThanOrEqual", formula1="32", allow_blank=True
            )
            validation.error = "号码过长"
            validation.prompt = (
                "按文本填写；18位身份证号码末位的X请大写" if label == col.ID_NUMBER else "按文本填写"
            )
        else:
            continue
        validation.errorTitle, validation.promptTitle = "输入有误", label
        validation.showErrorMessage = validation.showInputMessage = True
        validation.add(area)
        found.append(validation)
    return found


def _save(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
