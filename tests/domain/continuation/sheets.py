"""Building and opening test workbooks in memory."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook, load_workbook

HEADER = ["姓名", "性别", "出生日期", "身份证件类型", "身份证件号码"]
VOCATIONAL_HEADER = ["学籍号", *HEADER]


def xlsx(*rows: Sequence[Any], header: Sequence[str] | None = HEADER) -> bytes:
    """A workbook whose first sheet holds ``header`` (unless ``None``) and then ``rows``."""
    book = Workbook()
    sheet = book.active
    if header is not None:
        sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def open_xlsx(data: bytes) -> Any:
    return load_workbook(io.BytesIO(data)).worksheets[0]


def save(sheet: Any) -> bytes:
    buffer = io.BytesIO()
    sheet.parent.save(buffer)
    return buffer.getvalue()
