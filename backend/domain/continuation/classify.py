"""Validating list rows and classifying them against earlier-stage records (REG-8 (2), REG-9, NUM-6).

Each row is checked on its own; a bad row becomes ``INVALID`` with its errors and never blocks the good
ones. A row error names the Excel row, the column label and the problem in Chinese::

    {"row": 7, "column": "出生日期", "code": "INVALID_DATE", "level": "error",
     "message": "出生日期“2019-02-30”不是有效日期"}

Warnings (``"level": "warning"``) do not make a row invalid but keep it from registration until resolved:
``ALREADY_ADMITTED_SENIOR`` (REG-9: the registrar must choose, recorded in the entry's ``decision``) and
``ALREADY_HAS_RECORD`` (the ID number already holds a record of the target or a later stage,
``CURRENT_STAGES``: one person, one record, NUM-6 and REG-7, so that student comes by transfer, not by
continuation).

Classification of the valid rows, by earlier-stage records (``EARLIER_STAGES``) that are not deleted:

- ``MATCHED``: exactly one record with the row's ID number and name.
- ``TO_CONFIRM``: candidates to choose from: records with the ID number but another name (or several
  with the same name); for a vocational row without an ID match, records with its 学籍号; otherwise
  records with the same name, gender and birth date, taking for a row that has an ID number only records
  that have none (a preschool record made before the child had an ID card).
- ``NOT_FOUND``: none of those.

Lookups go in chunks (``repository.CHUNK``), one statement per chunk and key kind, never one per row.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from backend.domain.continuation import columns as col
from backend.domain.continuation.reader import Cell, SheetRow, is_blank
from backend.domain.continuation.repository import (
    CHUNK,
    IDENTITY_CHUNK,
    FoundRecord,
    IdentityKey,
    IdHolder,
    records_by_id_numbers,
    records_by_identity,
    records_by_national_numbers,
)
from backend.domain.records.id_numbers import (
    CHECK_CHARACTERS,
    PROVINCE_CODES,
    InvalidIdNumberError,
    normalize,
    parse_compact_date,
    validate_resident_id,
)
from backend.domain.records.id_numbers import EARLIEST_BIRTH as ID_EARLIEST_BIRTH
from backend.domain.records.national_numbers import InvalidNationalNumberError, parse_national_number
from backend.models.enums import Gender, IdType, ImportRowState, RecordStatus, Stage

T = TypeVar("T")

NAME_LENGTH = 50
ID_NUMBER_LENGTH = 32
EARLIEST_BIRTH = date(1900, 1, 1)
_DATE_TEXT = re.compile(r"([0-9]{4})\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*日?")
_COMPACT_DATE = re.compile(r"[0-9]{8}")
_OTHER_ID = re.compile(r"[A-Z0-9()\-]{5,32}")
_RESIDENT_ID_FORM = re.compile(r"[0-9]{17}[0-9X]")

STAGE_NAMES = {
    Stage.PRESCHOOL: "学前",
    Stage.PRIMARY: "小学",
    Stage.JUNIOR: "初中",
    Stage.SENIOR: "普通高中",
    Stage.VOCATIONAL: "中职",
}


class RowCode(enum.StrEnum):
    REQUIRED = "REQUIRED"
    INVALID_NAME = "INVALID_NAME"
    INVALID_GENDER = "INVALID_GENDER"
    INVALID_DATE = "INVALID_DATE"
    INVALID_ID_TYPE = "INVALID_ID_TYPE"
    INVALID_ID_NUMBER = "INVALID_ID_NUMBER"
    ID_NUMBER_AS_NUMBER = "ID_NUMBER_AS_NUMBER"
    ID_NUMBER_NOT_EXPECTED = "ID_NUMBER_NOT_EXPECTED"
    ID_BIRTH_DATE_MISMATCH = "ID_BIRTH_DATE_MISMATCH"
    ID_GENDER_MISMATCH = "ID_GENDER_MISMATCH"
    INVALID_NATIONAL_NUMBER = "INVALID_NATIONAL_NUMBER"
    NATIONAL_NUMBER_MISMATCH = "NATIONAL_NUMBER_MISMATCH"
    DUPLICATE_IN_FILE = "DUPLICATE_IN_FILE"
    # Warnings.
    ALREADY_ADMITTED_SENIOR = "ALREADY_ADMITTED_SENIOR"
    ALREADY_HAS_RECORD = "ALREADY_HAS_RECORD"
    # Only in the report of a filled-in sheet, never stored on a row.
    IDENTITY_LOCKED = "IDENTITY_LOCKED"
    ALREADY_REGISTERED = "ALREADY_REGISTERED"
    UNKNOWN_ROW = "UNKNOWN_ROW"
    DUPLICATE_ROW = "DUPLICATE_ROW"
    INVALID_VALUE = "INVALID_VALUE"
    # Only in the report of registering rows (``registration.register_rows``).
    NOT_READY = "NOT_READY"
    DUPLICATE_ID_NUMBER = "DUPLICATE_ID_NUMBER"
    CONTINUATION_CONFLICT = "CONTINUATION_CONFLICT"


class Decision(enum.StrEnum):
    """The registrar's choice on ``ALREADY_ADMITTED_SENIOR`` (REG-9)."""

    CONTINUE = "CONTINUE"
    STOP = "STOP"


ERROR = "error"
WARNING = "warning"


def row_error(
    row: int, column: str | None, code: RowCode, message: str, *, level: str = ERROR
) -> dict[str, Any]:
    return {"row": row, "column": column, "code": str(code), "message": message, "level": level}


@dataclass(slots=True)
class ListRow:
    """A list row as validated and classified; becomes one ``ContinuationRow``."""

    number: int
    name: str | None = None
    gender: Gender | None = None
    birth_date: date | None = None
    id_type: IdType | None = None
    id_number: str | None = None
    national_number: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    state: ImportRowState = ImportRowState.NOT_FOUND
    candidate_ids: list[int] = field(default_factory=list)
    matched_record_id: int | None = None

    @property
    def invalid(self) -> bool:
        # Most rows carry no entry at all: skip building the generator for them.
        return bool(self.errors) and any(e["level"] == ERROR for e in self.errors)

    def error(self, column: str | None, code: RowCode, message: str) -> None:
        self.errors.append(row_error(self.number, column, code, message))
        self.state = ImportRowState.INVALID

    def warn(self, column: str | None, code: RowCode, message: str, **extra: Any) -> None:
        self.errors.append(row_error(self.number, column, code, message, level=WARNING) | extra)

    def identity(self) -> tuple[object, ...]:
        return (self.name, self.gender, self.birth_date, self.id_type, self.id_number, self.national_number)


# --- validating one row (no I/O) -------------------------------------------------------------------


def parse_list_row(sheet_row: SheetRow, *, target_stage: Stage, today: date) -> ListRow:
    """Validate one row of a list (cells in ``columns.list_columns(target_stage)`` order)."""
    cells = sheet_row.cells
    if target_stage is Stage.VOCATIONAL:
        raw_number, raw_name, raw_gender, raw_birth, raw_type, raw_id = cells
    else:
        raw_name, raw_gender, raw_birth, raw_type, raw_id = cells
        raw_number = ""
    row = ListRow(sheet_row.number)
    # Each cell of a well-filled row passes a cheap test first; anything else goes to the full check,
    # which also says what is wrong. (This runs once per row of every list.)
    if type(raw_name) is str and 0 < len(name := raw_name.strip()) <= NAME_LENGTH:
        row.name = name
    else:
        _parse_name(row, raw_name)
    if type(raw_gender) is str and (gender := col.GENDER_LABELS.get(raw_gender)) is not None:
        row.gender = gender
    else:
        _parse_gender(row, raw_gender)
    if type(raw_birth) is date and EARLIEST_BIRTH <= raw_birth <= today:
        row.birth_date = raw_birth
    else:
        _parse_birth_date(row, raw_birth, today)
    if type(raw_type) is str and (id_type := col.ID_TYPE_LABELS.get(raw_type)) is not None:
        row.id_type = id_type
    else:
        _parse_id_type(row, raw_type)
    if (
        row.id_type is IdType.RESIDENT_ID
        and type(raw_id) is str
        and raw_id.isascii()  # NFKC leaves ASCII alone: normalising is stripping and upper-casing
        and resident_id_facts(number := raw_id.strip().upper(), today) == (row.birth_date, row.gender)
    ):
        row.id_number = number
    else:
        _parse_id_number(row, raw_id, today)
    if target_stage is Stage.VOCATIONAL and not is_blank(raw_number):
        _parse_national_number(row, raw_number)
    return row


def _parse_name(row: ListRow, value: Cell) -> None:
    if type(value) is str:
        name = value.strip()
        if not name:
            row.error(col.NAME, RowCode.REQUIRED, "姓名不能为空")
        elif len(name) > NAME_LENGTH:
            row.error(col.NAME, RowCode.INVALID_NAME, f"姓名不能超过{NAME_LENGTH}个字")
            row.name = name[:NAME_LENGTH]
        else:
            row.name = name
    else:
        row.error(col.NAME, RowCode.INVALID_NAME, f"姓名“{value}”不是文字")


def _parse_gender(row: ListRow, value: Cell) -> None:
    gender = col.GENDER_LABELS.get(value.strip()) if type(value) is str else None
    if gender is not None:
        row.gender = gender
    elif is_blank(value):
        row.error(col.GENDER, RowCode.REQUIRED, "性别不能为空")
    else:
        row.error(col.GENDER, RowCode.INVALID_GENDER, f"性别“{value}”无效，应为“男”或“女”")


def _parse_birth_date(row: ListRow, value: Cell, today: date) -> None:
    if is_blank(value):
        row.error(col.BIRTH_DATE, RowCode.REQUIRED, "出生日期不能为空")
        return
    parsed = parse_date(value)
    if isinstance(parsed, str):
        row.error(col.BIRTH_DATE, RowCode.INVALID_DATE, parsed)
    elif parsed > today:
        row.error(col.BIRTH_DATE, RowCode.INVALID_DATE, f"出生日期{parsed.isoformat()}晚于今天")
    elif parsed < EARLIEST_BIRTH:
        row.error(col.BIRTH_DATE, RowCode.INVALID_DATE, f"出生日期{parsed.isoformat()}早于1900年")
    else:
        row.birth_date = parsed


def parse_date(value: Cell) -> date | str:
    """A date from a date cell or from text (2019-09-01, 2019/9/1, 2019.9.1, 2019年9月1日, 20190901).

    Returns the date, or a Chinese message saying what is wrong with the cell.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        return f"出生日期“{value}”不是日期"
    if isinstance(value, int | float):
        # 20190901 typed into a cell formatted as a number; anything else (an Excel serial shown as a
        # plain number, say) is ambiguous and refused.
        if value == int(value) and 10_000_000 <= value <= 99_999_999:
            return _from_parts(
                str(int(value)), str(int(value))[:4], str(int(value))[4:6], str(int(value))[6:]
            )
        return f"出生日期“{value:g}”不是日期，请填写为2019-09-01的形式"
    if not isinstance(value, str):
        return f"出生日期“{value}”不是日期"
    text = unicodedata.normalize("NFKC", value).strip()
    if match := _DATE_TEXT.fullmatch(text):
        return _from_parts(text, *match.groups())
    if _COMPACT_DATE.fullmatch(text):
        return _from_parts(text, text[:4], text[4:6], text[6:])
    return f"出生日期“{text}”格式不正确，应为2019-09-01、2019/9/1或20190901"


def _from_parts(text: str, year: str, month: str, day: str) -> date | str:
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return f"出生日期“{text}”不是有效日期"


def _parse_id_type(row: ListRow, value: Cell) -> None:
    if type(value) is str:
        label = value.strip()
        id_type = col.ID_TYPE_LABELS.get(label) or col.ID_TYPE_LABELS.get(
            "".join(unicodedata.normalize("NFKC", label).split())
        )
        if id_type is not None:
            row.id_type = id_type
            return
    if is_blank(value):
        row.error(col.ID_TYPE, RowCode.REQUIRED, "身份证件类型不能为空")
    else:
        row.error(
            col.ID_TYPE,
            RowCode.INVALID_ID_TYPE,
            f"身份证件类型“{value}”无效，应为：{'、'.join(col.ID_TYPE_CHOICES)}",
        )


def _parse_id_number(row: ListRow, value: Cell, today: date) -> None:
    id_type = row.id_type
    if is_blank(value):
        if id_type is not None and id_type is not IdType.NONE:
            row.error(col.ID_NUMBER, RowCode.REQUIRED, "身份证件号码不能为空")
        return
    if isinstance(value, int | float) and not isinstance(value, bool):
        row.error(
            col.ID_NUMBER,
            RowCode.ID_NUMBER_AS_NUMBER,
            "身份证件号码被Excel存成了数字，末尾几位和开头的0会丢失；请将该列设为“文本”格式后重新填写",
        )
        return
    if not isinstance(value, str):
        row.error(col.ID_NUMBER, RowCode.INVALID_ID_NUMBER, f"身份证件号码“{value}”无效")
        return
    number = value.strip().upper() if value.isascii() else normalize(value)  # NFKC leaves ASCII alone
    row.id_number = number[:ID_NUMBER_LENGTH]
    if id_type is None:
        return  # the type is already reported; the number cannot be checked without it
    if id_type is IdType.NONE:
        row.error(col.ID_NUMBER, RowCode.ID_NUMBER_NOT_EXPECTED, "身份证件类型为“无”时，身份证件号码应为空")
    elif id_type is IdType.RESIDENT_ID:
        facts = resident_id_facts(number, today)
        if isinstance(facts, str):
            row.error(col.ID_NUMBER, RowCode.INVALID_ID_NUMBER, facts)
            return
        birth_date, gender = facts
        if row.birth_date is not None and birth_date != row.birth_date:
            row.error(
                col.BIRTH_DATE,
                RowCode.ID_BIRTH_DATE_MISMATCH,
                f"出生日期{row.birth_date.isoformat()}与身份证号码中的{birth_date.isoformat()}不一致",
            )
        if row.gender is not None and gender is not row.gender:
            row.error(col.GENDER, RowCode.ID_GENDER_MISMATCH, "性别与身份证号码不一致")
    elif not _OTHER_ID.fullmatch(number):
        row.error(col.ID_NUMBER, RowCode.INVALID_ID_NUMBER, "证件号码应为5至32位字母、数字")


def resident_id_facts(number: str, today: date) -> tuple[date, Gender] | str:
    """Birth date and gender of a valid resident ID number, or the Chinese message saying what is wrong.

    ``validate_resident_id`` decides; the common case (a well-formed valid number) is first confirmed by
    the same checks done with cheaper means, because a list runs this once per row. Anything the fast
    checks do not accept goes to ``validate_resident_id``, so both always agree.
    """
    if _RESIDENT_ID_FORM.fullmatch(number) and number[:2] in PROVINCE_CODES:
        birth = _birth_date(number[6:14])
        if (
            birth is not None
            and ID_EARLIEST_BIRTH <= birth <= today
            and fast_check_digit(number[:17]) == number[17]
        ):
            return birth, Gender.MALE if number[16] in _ODD_DIGITS else Gender.FEMALE
    try:
        resident = validate_resident_id(number, today=today, field=None)
    except InvalidIdNumberError as exc:
        return exc.message
    return resident.birth_date, resident.gender


# A list's students were born on a few hundred days: parsing each YYYYMMDD once is enough.
_birth_date = lru_cache(maxsize=4096)(parse_compact_date)
_ODD_DIGITS = frozenset("13579")


def fast_check_digit(first17: str) -> str:
    """``id_numbers.check_digit`` for 17 ASCII digits, without its input checks, in one ``int()`` call.

    The MOD 11-2 weights are 2**17 … 2**1 modulo 11, and 13 ≡ 2 (mod 11), so the weighted sum is congruent
    to twice the digits read as a base-13 number. The caller must have checked that these are 17 ASCII
    digits: ``int(…, 13)`` would also take the letters a–c, signs, spaces and underscores.
    """
    return CHECK_CHARACTERS[2 * int(first17, 13) % 11]


def _parse_national_number(row: ListRow, value: Cell) -> None:
    if not isinstance(value, str):
        row.error(col.NATIONAL_NUMBER, RowCode.INVALID_NATIONAL_NUMBER, f"学籍号“{value}”无效")
        return
    try:
        parsed = parse_national_number(value, field=None)
    except InvalidNationalNumberError as exc:
        row.error(col.NATIONAL_NUMBER, RowCode.INVALID_NATIONAL_NUMBER, exc.message)
        row.national_number = normalize(value)[:19]
        return
    row.national_number = parsed.number
    if parsed.id_number is not None and row.id_number is not None and parsed.id_number != row.id_number:
        row.error(col.NATIONAL_NUMBER, RowCode.NATIONAL_NUMBER_MISMATCH, "G字头学籍号与身份证件号码不一致")


def flag_duplicates(rows: Sequence[ListRow], others: Mapping[str, int] | None = None) -> None:
    """Mark every row whose ID number appears more than once in the list (or in ``others``).

    Args:
        rows: the rows to check and mark.
        others: ID number → row number of rows of the same list that are not being checked again.
    """
    # Counting first (Counter counts in C) leaves only the few repeated numbers to group.
    counted = Counter(row.id_number for row in rows if row.id_number)
    repeated = {n for n, count in counted.items() if count > 1 or (others and n in others)}
    seen: defaultdict[str, list[ListRow]] = defaultdict(list)
    for row in rows:
        if row.id_number in repeated:
            seen[row.id_number].append(row)
    for number, group in seen.items():
        other = others.get(number) if others else None
        numbers = sorted({r.number for r in group} | ({other} if other is not None else set()))
        for row in group:
            rest = "、".join(str(n) for n in numbers if n != row.number)
            row.error(col.ID_NUMBER, RowCode.DUPLICATE_IN_FILE, f"身份证件号码与第{rest}行重复")


# --- classifying valid rows against existing records --------------------------------------------------


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def classify_rows(session: AsyncSession, rows: Sequence[ListRow], *, target_stage: Stage) -> None:
    """Set state, candidates and matched record of every valid row (see the module docstring)."""
    earlier = col.EARLIER_STAGES[target_stage]
    current = col.CURRENT_STAGES[target_stage]
    vocational = target_stage is Stage.VOCATIONAL
    valid = [row for row in rows if not row.invalid]
    for row in valid:
        # Rows fresh from ``parse_list_row`` are like this already; one classified before starts over.
        if (
            row.state is not ImportRowState.NOT_FOUND
            or row.candidate_ids
            or row.matched_record_id is not None
        ):
            row.state, row.candidate_ids, row.matched_record_id = ImportRowState.NOT_FOUND, [], None

    dialect = (await session.connection()).dialect.name
    with_id = [row for row in valid if row.id_number]
    for chunk in chunks(with_id, CHUNK):
        by_number: defaultdict[str, list[IdHolder]] = defaultdict(list)
        numbers = {row.id_number for row in chunk if row.id_number}
        result = await session.execute(*records_by_id_numbers(dialect, numbers))
        for holder in map(IdHolder._make, result):
            by_number[holder.id_number].append(holder)
        for row in chunk:
            _classify_by_id_number(row, by_number.get(row.id_number or "", []), earlier, current, vocational)

    if vocational:
        pending = [row for row in valid if row.national_number and row.state is ImportRowState.NOT_FOUND]
        for chunk in chunks(pending, CHUNK):
            by_national: defaultdict[str, list[FoundRecord]] = defaultdict(list)
            numbers = {row.national_number for row in chunk if row.national_number}
            result = await session.execute(*records_by_national_numbers(dialect, numbers))
            for numbered in map(FoundRecord._make, result):
                by_national[numbered.national_number].append(numbered)
            for row in chunk:
                found = [r for r in by_national.get(row.national_number or "", []) if r.stage in earlier]
                if found:
                    row.state, row.candidate_ids = ImportRowState.TO_CONFIRM, sorted(r.id for r in found)

    pending = [row for row in valid if row.state is ImportRowState.NOT_FOUND]
    for chunk in chunks(pending, IDENTITY_CHUNK):
        by_key: defaultdict[IdentityKey, list[FoundRecord]] = defaultdict(list)
        keys = {_identity_key(row) for row in chunk}
        result = await session.execute(*records_by_identity(dialect, keys))
        for record in map(FoundRecord._make, result):
            by_key[(record.name, record.gender, record.birth_date)].append(record)
        for row in chunk:
            found = [
                r
                for r in by_key.get(_identity_key(row), [])
                if r.stage in earlier and (row.id_number is None or not r.id_number)
            ]
            if found:
                row.state, row.candidate_ids = ImportRowState.TO_CONFIRM, sorted(r.id for r in found)


def _identity_key(row: ListRow) -> IdentityKey:
    # Valid rows have all three (parse_list_row reports any that is missing).
    assert row.name is not None
    assert row.gender is not None
    assert row.birth_date is not None
    return (row.name, row.gender, row.birth_date)


def _classify_by_id_number(
    row: ListRow,
    records: list[IdHolder],
    earlier: frozenset[Stage],
    current: frozenset[Stage],
    vocational: bool,
) -> None:
    if not records:
        return
    if len(records) == 1 and records[0].stage in earlier:
        # The common case, one earlier-stage record: matched, or a candidate with another name.
        record = records[0]
        if record.name == row.name:
            row.state, row.matched_record_id = ImportRowState.MATCHED, record.id
            if vocational and (warning := senior_warning(row.number, record.stage, record.status)):
                row.errors.append(warning)
        else:
            row.state, row.candidate_ids = ImportRowState.TO_CONFIRM, [record.id]
        return
    prior = [r for r in records if r.stage in earlier]
    later = [r for r in records if r.stage in current]
    if later:
        stages = "、".join(sorted({STAGE_NAMES[r.stage] for r in later}))
        row.warn(
            col.ID_NUMBER,
            RowCode.ALREADY_HAS_RECORD,
            f"该身份证件号码已有{stages}学籍，一人只能有一个学籍，请通过转学等业务办理",
        )
    same_name = [r for r in prior if r.name == row.name]
    if len(same_name) == 1:
        row.state, row.matched_record_id = ImportRowState.MATCHED, same_name[0].id
        if vocational and (warning := senior_warning(row.number, same_name[0].stage, same_name[0].status)):
            row.errors.append(warning)
    elif prior:
        row.state = ImportRowState.TO_CONFIRM
        row.candidate_ids = sorted(r.id for r in (same_name or prior))


def senior_warning(row_number: int, stage: Stage, status: RecordStatus) -> dict[str, Any] | None:
    """REG-9: a student already admitted by a regular senior high school needs the registrar's choice."""
    if stage is not Stage.SENIOR or status is not RecordStatus.IN_SCHOOL:
        return None
    return row_error(
        row_number,
        col.NAME,
        RowCode.ALREADY_ADMITTED_SENIOR,
        "该生已被普通高中录取，请选择是否继续接续学籍（继续则学籍转入本校，否则终止该生注册）",
        level=WARNING,
    ) | {"decision": None}


# --- readiness ----------------------------------------------------------------------------------------


def blocking_reason(state: ImportRowState, errors: Sequence[Mapping[str, Any]]) -> str | None:
    """Why a row cannot go on to registration yet, or ``None`` if it can (by its state and entries)."""
    if state is ImportRowState.INVALID:
        return "数据有误"
    if state is ImportRowState.TO_CONFIRM:
        return "待确认匹配"
    for entry in errors:
        if entry["level"] == ERROR:
            return entry["message"]  # type: ignore[no-any-return]
        if entry["code"] == RowCode.ALREADY_HAS_RECORD:
            return entry["message"]  # type: ignore[no-any-return]
        if entry["code"] == RowCode.ALREADY_ADMITTED_SENIOR and entry.get("decision") != Decision.CONTINUE:
            return "已被普通高中录取，尚未选择继续接续" if entry.get("decision") is None else "已终止注册"
    return None
