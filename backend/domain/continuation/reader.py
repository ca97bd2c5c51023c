"""Reading a list from an ``.xlsx`` file with python-calamine: the first sheet, one header row, data rows.

The header is the first non-empty row. It must hold exactly the expected labels, in any order (REG-8 (1)
names five fields and nothing else): a missing, unknown or repeated label, or data in a column with no
label, rejects the file with ``IMPORT_COLUMNS`` naming what is wrong. Labels are compared after NFKC
normalisation with whitespace removed, so "姓 名" or full-width characters still match.

Cells come back as calamine gives them: ``str`` (``""`` for empty), ``int``/``float``, ``bool``, ``date`` or
``datetime`` for date cells, ``time``/``timedelta`` for durations. Fully empty rows are skipped; row
numbers are the ones Excel shows, so an error message can point at the exact row.
"""

from __future__ import annotations

import io
import operator
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from openpyxl.utils import get_column_letter
from python_calamine import CalamineError, CalamineWorkbook

from backend.domain.continuation.errors import (
    ImportColumnsError,
    ImportEmptyError,
    ImportFileError,
    ImportTooManyRowsError,
)

Cell = int | float | str | bool | time | date | datetime | timedelta

# Ten times the largest list a school normally sends (about 10,000 rows); see ``service``.
MAX_ROWS = 100_000


class SheetRow(NamedTuple):
    """One data row: its Excel row number and its cells in the order of ``Sheet.columns``."""

    number: int
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Sheet:
    columns: tuple[str, ...]
    rows: list[SheetRow]


def is_blank(value: object) -> bool:
    """Empty, only spaces, or ``None`` (calamine gives ``""`` for empty cells; callers may pass ``None``)."""
    return value == "" or value is None or (type(value) is str and not value.strip())


def normalize_label(value: Cell) -> str:
    text = value if isinstance(value, str) else str(value)
    return "".join(unicodedata.normalize("NFKC", text).split())


def read_sheet(data: bytes, *, required: Sequence[str], optional: Sequence[str] = ()) -> Sheet:
    """The data rows of the first sheet, each with its cells in the order ``required`` then ``optional``.

    Args:
        data: the ``.xlsx`` file.
        required: labels the header must hold.
        optional: labels it may hold as well; a row gets ``""`` for those absent.

    Raises:
        ImportFileError: not a readable workbook.
        ImportColumnsError: the header is not exactly the expected labels.
        ImportEmptyError: no data row.
        ImportTooManyRowsError: more than ``MAX_ROWS`` data rows.
    """
    try:
        with CalamineWorkbook.from_filelike(io.BytesIO(data)) as book:
            if not book.sheet_names:
                raise ImportEmptyError()
            # Not skipping the empty area keeps list indexes equal to Excel row and column numbers - 1.
            grid = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except CalamineError as exc:
        raise ImportFileError(field="file") from exc
    header_index = next((i for i, row in enumerate(grid) if not all(is_blank(c) for c in row)), None)
    if header_index is None:
        raise ImportColumnsError(missing=required, expected=required)
    labels = [normalize_label(c) for c in grid[header_index]]
    columns = _match_header(labels, required, optional)
    positions = [labels.index(label) if label in labels else -1 for label in columns]
    pick = _picker(positions)
    unlabeled = [i for i, label in enumerate(labels) if not label]
    body = grid[header_index + 1 :]
    if unlabeled:
        for line in body:
            _check_unlabeled(line, unlabeled)
    # Every row of every list passes here: one comprehension, with C-level map() calls rather than a
    # loop with a generator per row, takes half the time. Excel numbers rows from 1.
    rows = [
        SheetRow(number, cells)
        for number, cells in enumerate(map(pick, body), start=header_index + 2)
        if not all(map(is_blank, cells))
    ]
    if len(rows) > MAX_ROWS:
        raise ImportTooManyRowsError(f"每个文件最多{MAX_ROWS}行学生数据，请分批导入", field="file")
    if not rows:
        raise ImportEmptyError(field="file")
    return Sheet(columns=columns, rows=rows)


def _picker(positions: list[int]) -> Callable[[list[Cell]], tuple[Cell, ...]]:
    """A function taking a grid row to its cells in column order (``""`` for absent optional columns)."""
    if all(p >= 0 for p in positions):
        if len(positions) == 1:
            only = positions[0]
            return lambda line: (line[only],)
        return operator.itemgetter(*positions)
    return lambda line: tuple(line[p] if p >= 0 else "" for p in positions)


def _match_header(labels: list[str], required: Sequence[str], optional: Sequence[str]) -> tuple[str, ...]:
    known = set(required) | set(optional)
    present = [label for label in labels if label]
    missing = [c for c in required if c not in present]
    extra = [label for label in present if label not in known]
    duplicated = sorted({label for label in present if present.count(label) > 1}, key=present.index)
    if missing or extra or duplicated:
        raise ImportColumnsError(missing=missing, extra=extra, duplicated=duplicated, expected=required)
    return (*required, *(c for c in optional if c in present))


def _check_unlabeled(line: list[Cell], unlabeled: list[int]) -> None:
    for i in unlabeled:
        if not is_blank(line[i]):
            raise ImportColumnsError(f"第{get_column_letter(i + 1)}列有数据但没有表头，请删除该列或补上表头")
