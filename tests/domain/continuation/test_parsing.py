"""Reading lists and validating their rows (REG-8 (1), REG-9); the statements that look rows up and store them.

Everything here but the last test runs without a database.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.domain.continuation import reader
from backend.domain.continuation.classify import (
    ListRow,
    fast_check_digit,
    flag_duplicates,
    parse_list_row,
    resident_id_facts,
    senior_warning,
)
from backend.domain.continuation.errors import (
    ImportColumnsError,
    ImportEmptyError,
    ImportFileError,
    ImportTooManyRowsError,
)
from backend.domain.continuation.reader import SheetRow, read_sheet
from backend.domain.continuation.repository import (
    insert_rows,
    records_by_id_numbers,
    records_by_identity,
    records_by_national_numbers,
)
from backend.domain.continuation.service import read_list, template_xlsx
from backend.domain.records.id_numbers import (
    InvalidIdNumberError,
    check_digit,
    make_resident_id,
    normalize,
    validate_resident_id,
)
from backend.models import ContinuationImport, ContinuationRow, StudentRecord
from backend.models.enums import Gender, IdType, ImportRowState, RecordStatus, RegistrationState, Stage
from tests.domain.continuation.sheets import HEADER, VOCATIONAL_HEADER, open_xlsx, xlsx
from tests.domain.factories import build_tree, count_rows

TODAY = date(2026, 11, 25)
BIRTH = date(2019, 9, 1)
BOY = make_resident_id("340102", BIRTH, 0, Gender.MALE)
GIRL = make_resident_id("340102", BIRTH, 0, Gender.FEMALE)


def parse(*cells: Any, stage: Stage = Stage.PRIMARY, number: int = 2) -> ListRow:
    return parse_list_row(SheetRow(number, tuple(cells)), target_stage=stage, today=TODAY)


def codes(row: ListRow) -> list[tuple[str | None, str]]:
    return [(e["column"], e["code"]) for e in row.errors]


# --- the header -------------------------------------------------------------------------------------


def test_header_in_any_order_is_accepted() -> None:
    # RULES: REG-8
    data = xlsx(
        ["男", BOY, "张三", "居民身份证", BIRTH],
        header=["性别", "身份证件号码", "姓名", "身份证件类型", "出生日期"],
    )

    sheet = read_sheet(data, required=HEADER)

    assert sheet.columns == tuple(HEADER)
    assert [(r.number, r.cells) for r in sheet.rows] == [(2, ("张三", "男", BIRTH, "居民身份证", BOY))]


def test_header_labels_tolerate_spaces_and_full_width() -> None:
    data = xlsx(
        ["张三", "男", BIRTH, "居民身份证", BOY],
        header=[" 姓 名", "性别 ", "出生日期", "身份证件类型", "身份证件号码"],
    )

    assert len(read_sheet(data, required=HEADER).rows) == 1


@pytest.mark.parametrize(
    ("header", "missing", "extra", "duplicated"),
    [
        (HEADER[:4], ("身份证件号码",), (), ()),
        ([*HEADER, "备注"], (), ("备注",), ()),
        ([*HEADER, "姓名"], (), (), ("姓名",)),
        (
            ["姓名", "性别", "出生年月", "证件类型", "身份证件号码"],
            ("出生日期", "身份证件类型"),
            ("出生年月", "证件类型"),
            (),
        ),
    ],
    ids=["missing", "extra", "duplicated", "renamed"],
)
def test_header_must_be_exactly_the_five_fields(
    header: list[str], missing: tuple[str, ...], extra: tuple[str, ...], duplicated: tuple[str, ...]
) -> None:
    # RULES: REG-8
    with pytest.raises(ImportColumnsError) as caught:
        read_sheet(xlsx(["张三"], header=header), required=HEADER)

    error = caught.value
    assert error.code == "IMPORT_COLUMNS"
    assert (error.missing, error.extra, error.duplicated) == (missing, extra, duplicated)
    for label in (*missing, *extra, *duplicated):
        assert f"“{label}”" in error.message


def test_vocational_lists_need_the_national_number_column() -> None:
    # RULES: REG-9
    with pytest.raises(ImportColumnsError) as caught:
        read_list(xlsx(["张三", "男", BIRTH, "居民身份证", BOY]), target_stage=Stage.VOCATIONAL, today=TODAY)

    assert caught.value.missing == ("学籍号",)


def test_data_in_a_column_without_label_is_refused() -> None:
    data = xlsx(["张三", "男", BIRTH, "居民身份证", BOY, None, "备注"], header=[*HEADER, None, None])

    with pytest.raises(ImportColumnsError, match="第G列有数据但没有表头"):
        read_sheet(data, required=HEADER)


def test_an_empty_sheet_has_no_header() -> None:
    with pytest.raises(ImportColumnsError) as caught:
        read_sheet(xlsx(header=None), required=HEADER)

    assert caught.value.missing == tuple(HEADER)


def test_a_header_without_rows_is_empty() -> None:
    with pytest.raises(ImportEmptyError):
        read_sheet(xlsx(), required=HEADER)


def test_too_many_rows_refuse_the_file_and_empty_rows_do_not_count(monkeypatch: pytest.MonkeyPatch) -> None:
    # RULES: REG-8
    monkeypatch.setattr(reader, "MAX_ROWS", 2)
    first, second = ["张三", "男", BIRTH, "居民身份证", BOY], ["李四", "女", BIRTH, "居民身份证", GIRL]

    sheet = read_sheet(xlsx(first, [None] * 5, ["", " "], second), required=HEADER)

    assert [r.number for r in sheet.rows] == [2, 5]
    with pytest.raises(ImportTooManyRowsError, match="每个文件最多2行"):
        read_sheet(xlsx(first, second, first), required=HEADER)


def test_garbage_is_unreadable() -> None:
    with pytest.raises(ImportFileError):
        read_sheet(b"PK\x03\x04 no workbook", required=HEADER)


def test_empty_rows_are_skipped_and_row_numbers_kept() -> None:
    # RULES: REG-8
    data = xlsx(
        ["张三", "男", BIRTH, "居民身份证", BOY],
        [None, None, None, None, None],
        ["  ", "", None, " ", ""],
        ["李四", "女", BIRTH, "居民身份证", GIRL],
    )

    sheet = read_sheet(data, required=HEADER)

    assert [r.number for r in sheet.rows] == [2, 5]


def test_header_need_not_be_on_the_first_row() -> None:
    book_rows = [[None] * 5, HEADER, ["张三", "男", BIRTH, "居民身份证", BOY]]
    sheet = read_sheet(xlsx(*book_rows, header=None), required=HEADER)

    assert [r.number for r in sheet.rows] == [3]


# --- one row ------------------------------------------------------------------------------------------


def test_a_valid_row() -> None:
    row = parse(" 张三 ", "男", BIRTH, "居民身份证", BOY.lower())

    assert row.errors == []
    assert (row.name, row.gender, row.birth_date, row.id_type, row.id_number) == (
        "张三",
        Gender.MALE,
        BIRTH,
        IdType.RESIDENT_ID,
        BOY,
    )


@pytest.mark.parametrize(
    "cell",
    [
        BIRTH,
        datetime.combine(BIRTH, time(8, 30)),  # a date cell with a time part
        "2019-09-01",
        "2019-9-1",
        "2019/9/1",
        "2019/09/01",
        "20190901",
        20190901,
        "2019年9月1日",
        "２０１９-０９-０１",
    ],
)
def test_birth_dates_in_common_forms(cell: Any) -> None:
    row = parse("张三", "男", cell, "居民身份证", BOY)

    assert row.errors == []
    assert row.birth_date == BIRTH


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("2019-02-30", "出生日期“2019-02-30”不是有效日期"),
        ("2019-13-01", "出生日期“2019-13-01”不是有效日期"),
        ("20191301", "出生日期“20191301”不是有效日期"),
        ("2019.9", "出生日期“2019.9”格式不正确，应为2019-09-01、2019/9/1或20190901"),
        (43709.0, "出生日期“43709”不是日期，请填写为2019-09-01的形式"),
        ("2027-01-01", "出生日期2027-01-01晚于今天"),
    ],
)
def test_invalid_birth_dates(cell: Any, message: str) -> None:
    # RULES: REG-8
    row = parse("张三", "男", cell, "无", "")

    assert row.state is ImportRowState.INVALID
    assert row.birth_date is None
    assert row.errors == [
        {"row": 2, "column": "出生日期", "code": "INVALID_DATE", "message": message, "level": "error"}
    ]


def test_wrong_check_digit() -> None:
    # RULES: REG-8
    wrong = BOY[:17] + ("0" if BOY[17] != "0" else "1")

    row = parse("张三", "男", BIRTH, "居民身份证", wrong)

    assert codes(row) == [("身份证件号码", "INVALID_ID_NUMBER")]
    assert row.errors[0]["message"] == "身份证号码校验位不正确，请核对号码"
    assert row.id_number == wrong  # kept, so the registrar sees what was typed


def test_id_number_typed_as_a_number() -> None:
    # RULES: REG-8
    row = parse("张三", "男", BIRTH, "居民身份证", float(BOY[:17] + "0"))

    assert codes(row) == [("身份证件号码", "ID_NUMBER_AS_NUMBER")]
    assert row.id_number is None


def test_id_number_must_agree_with_birth_date_and_gender() -> None:
    row = parse("张三", "女", date(2019, 9, 2), "居民身份证", BOY)

    assert codes(row) == [("出生日期", "ID_BIRTH_DATE_MISMATCH"), ("性别", "ID_GENDER_MISMATCH")]


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (("", "男", BIRTH, "居民身份证", BOY), [("姓名", "REQUIRED")]),
        (("张三", "M", BIRTH, "居民身份证", BOY), [("性别", "INVALID_GENDER")]),
        (("张三", "男", BIRTH, "身份证号", BOY), [("身份证件类型", "INVALID_ID_TYPE")]),
        (("张三", "男", BIRTH, "", ""), [("身份证件类型", "REQUIRED")]),
        (("张三", "男", BIRTH, "居民身份证", ""), [("身份证件号码", "REQUIRED")]),
        (("张三", "男", BIRTH, "无", BOY), [("身份证件号码", "ID_NUMBER_NOT_EXPECTED")]),
        (("张三", "男", BIRTH, "护照", "E1"), [("身份证件号码", "INVALID_ID_NUMBER")]),
        ((123, "男", BIRTH, "居民身份证", BOY), [("姓名", "INVALID_NAME")]),
    ],
)
def test_row_errors_name_their_column(cells: tuple[Any, ...], expected: list[tuple[str, str]]) -> None:
    row = parse(*cells)

    assert codes(row) == expected
    assert row.state is ImportRowState.INVALID


@pytest.mark.parametrize(
    ("label", "id_type", "number"),
    [
        ("无", IdType.NONE, None),
        ("护照", IdType.PASSPORT, "E12345678"),
        ("港澳居民来往内地通行证", IdType.HK_MACAO_PERMIT, "H12345678"),
        ("港澳台居民居住证", IdType.HK_MACAO_PERMIT, "810000201909010012"),
        ("台湾居民来往大陆通行证", IdType.TAIWAN_PERMIT, "12345678"),
    ],
)
def test_other_id_types(label: str, id_type: IdType, number: str | None) -> None:
    row = parse("张三", "男", BIRTH, label, number or "")

    assert row.errors == []
    assert (row.id_type, row.id_number) == (id_type, number)


def test_vocational_row_with_a_national_number() -> None:
    # RULES: REG-9
    row = parse("G" + BOY, "张三", "男", BIRTH, "居民身份证", BOY, stage=Stage.VOCATIONAL)
    without = parse("", "张三", "男", BIRTH, "居民身份证", BOY, stage=Stage.VOCATIONAL)
    other = parse("G" + GIRL, "张三", "男", BIRTH, "居民身份证", BOY, stage=Stage.VOCATIONAL)

    assert (row.errors, row.national_number) == ([], "G" + BOY)
    assert (without.errors, without.national_number) == ([], None)
    assert codes(other) == [("学籍号", "NATIONAL_NUMBER_MISMATCH")]


def test_duplicated_id_numbers_flag_every_copy() -> None:
    # RULES: REG-8, NUM-6
    rows = [parse("张三", "男", BIRTH, "居民身份证", BOY, number=n) for n in (2, 5, 9)]
    rows.append(parse("李四", "女", BIRTH, "居民身份证", GIRL, number=10))

    flag_duplicates(rows)

    assert [codes(r) for r in rows] == [[("身份证件号码", "DUPLICATE_IN_FILE")]] * 3 + [[]]
    assert [r.errors[0]["message"] for r in rows[:3]] == [
        "身份证件号码与第5、9行重复",
        "身份证件号码与第2、9行重复",
        "身份证件号码与第2、5行重复",
    ]


def test_a_bad_row_does_not_block_the_others() -> None:
    # RULES: REG-8
    rows = read_list(
        xlsx(["张三", "男", BIRTH, "居民身份证", BOY], ["李四", "女", "2019-02-30", "居民身份证", GIRL]),
        target_stage=Stage.PRIMARY,
        today=TODAY,
    )

    assert [(r.number, r.state, len(r.errors)) for r in rows] == [
        (2, ImportRowState.NOT_FOUND, 0),
        (3, ImportRowState.INVALID, 1),
    ]


# --- the template ---------------------------------------------------------------------------------------


def validations(sheet: Any) -> dict[str, tuple[str, str | None, str | None]]:
    return {str(v.sqref): (v.type, v.formula1, v.formula2) for v in sheet.data_validations.dataValidation}


def test_template_has_the_header_and_validations() -> None:
    # RULES: REG-8
    sheet = open_xlsx(template_xlsx())

    assert [c.value for c in sheet[1]] == HEADER
    assert validations(sheet) == {
        "B2:B100001": ("list", '"男,女"', None),
        "C2:C100001": ("date", "DATE(1900,1,1)", "TODAY()"),
        "D2:D100001": (
            "list",
            '"居民身份证,护照,港澳居民来往内地通行证,港澳台居民居住证,台湾居民来往大陆通行证,无"',
            None,
        ),
        "E2:E100001": ("textLength", "32", None),
    }
    assert sheet.column_dimensions["E"].number_format == "@"
    assert sheet.column_dimensions["C"].number_format == "yyyy-mm-dd"


def test_vocational_template_starts_with_the_national_number() -> None:
    # RULES: REG-9
    sheet = open_xlsx(template_xlsx(Stage.VOCATIONAL))

    assert [c.value for c in sheet[1]] == VOCATIONAL_HEADER
    assert sheet.column_dimensions["A"].number_format == "@"
    assert validations(sheet)["C2:C100001"] == ("list", '"男,女"', None)


def test_the_template_reads_back_as_an_empty_list() -> None:
    with pytest.raises(ImportEmptyError):
        read_list(template_xlsx(), target_stage=Stage.PRIMARY, today=TODAY)


# --- the fast resident-ID check agrees with the reference one -------------------------------------------


def test_fast_check_digit_matches_the_reference() -> None:
    rng = random.Random(11643)
    for _ in range(5000):
        first17 = "".join(rng.choice("0123456789") for _ in range(17))
        assert fast_check_digit(first17) == check_digit(first17)


def test_fast_resident_id_check_agrees_with_validate_resident_id() -> None:
    rng = random.Random(1999)
    candidates = []
    for _ in range(3000):
        birth = date(1890, 1, 1) + timedelta(days=rng.randrange(50_000))
        region = rng.choice(["340102", "110105", "810000", "990000", "000000", "710000"])
        number = region + f"{birth:%Y%m%d}" + f"{rng.randrange(1000):03d}"
        number += rng.choice([check_digit(number), "X", "0", "7"])
        candidates.append(number)
    candidates += [BOY, GIRL, BOY[:-1] + "x", "34010220190230001X", "3401022019090100", "３４" + BOY[2:]]
    for number in candidates:
        try:
            resident = validate_resident_id(number, today=TODAY, field=None)
            expected: object = (resident.birth_date, resident.gender)
        except InvalidIdNumberError as exc:
            expected = exc.message
        assert resident_id_facts(normalize(number), TODAY) == expected, number


def test_the_quick_path_for_resident_ids_agrees_with_the_full_check() -> None:
    # An ASCII number takes parse_list_row's quick path; the same number typed full-width goes through
    # normalisation and the full check. Both must give the same row.
    def full_width(text: str) -> str:
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)

    rng = random.Random(2026)
    numbers = [BOY, GIRL, BOY[:-1] + "x", BOY[:-1] + "0", BOY[:17], " " + GIRL + " ", "71" + BOY[2:]]
    numbers += [make_resident_id("340102", BIRTH + timedelta(days=rng.randrange(-3, 3)), 0, Gender.MALE)]
    numbers += [make_resident_id("340102", date(2027, 1, 1), 0, Gender.FEMALE)]  # born after TODAY
    for number in numbers:
        for gender in ("男", "女"):
            quick = parse("张三", gender, BIRTH, "居民身份证", number)
            full = parse("张三", gender, BIRTH, "居民身份证", full_width(number))
            assert (quick.id_number, quick.errors, quick.state) == (full.id_number, full.errors, full.state)


# --- the lookup statements and the row insert -------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_a_chunk_of_keys_is_one_parameter_of_a_statement_built_once(dialect: str) -> None:
    keys = [(f"学生{i}", Gender.MALE, BIRTH) for i in range(3)]

    statement, params = records_by_identity(dialect, keys)
    same, _ = records_by_identity(dialect, [(f"学生{i}", Gender.FEMALE, BIRTH) for i in range(1000)])
    by_number, number_params = records_by_id_numbers(dialect, {BOY})
    by_national, national_params = records_by_national_numbers(dialect, ["G" + BOY, "G" + GIRL])

    assert statement is same  # compiled once, whatever the chunk's size
    assert by_number is records_by_id_numbers(dialect, [GIRL] * 1000)[0]
    assert by_national is records_by_national_numbers(dialect, [GIRL])[0]
    assert number_params == {"numbers": [BOY]}
    assert national_params == {"numbers": ["G" + BOY, "G" + GIRL]}
    if dialect == "postgresql":
        assert params == {
            "names": ["学生0", "学生1", "学生2"],
            "genders": ["MALE"] * 3,
            "birth_dates": [BIRTH] * 3,
        }
    else:  # as SQLite stores them: the enum's name, the date as ISO text
        assert params == {"keys": [[f"学生{i}", "MALE", "2019-09-01"] for i in range(3)]}


def test_lookups_unpack_their_keys_in_the_database() -> None:
    def sql(statement: Any, dialect: Any) -> str:
        return " ".join(str(statement.compile(dialect=dialect)).split())

    postgres, lite = asyncpg.dialect(), sqlite.dialect()

    assert "student_record.id_number = ANY ($1::VARCHAR[])" in sql(
        records_by_id_numbers("postgresql", [BOY])[0], postgres
    )
    assert "JOIN unnest($1::VARCHAR[], $2::VARCHAR[], $3::DATE[]) AS k(name, gender, birth_date)" in sql(
        records_by_identity("postgresql", [("张三", Gender.MALE, BIRTH)])[0], postgres
    )
    assert "student_record.national_number IN (SELECT anon_1.value FROM json_each(?) AS anon_1)" in sql(
        records_by_national_numbers("sqlite", [BOY])[0], lite
    )
    assert "JOIN json_each(?) AS k ON student_record.name = json_extract(k.value, ?)" in sql(
        records_by_identity("sqlite", [("张三", Gender.MALE, BIRTH)])[0], lite
    )


async def test_rows_are_stored_whole_in_the_transaction_or_not_at_all(
    db: Database, clock: FixedClock, settings: Settings
) -> None:
    # RULES: REG-8 (COPY on PostgreSQL, executemany on SQLite; the suite runs on both)
    async with db.unit_of_work(clock, settings) as uow:
        school = (await build_tree(uow)).school_a1
        record = StudentRecord(
            national_number="G" + BOY,
            name="张三",
            gender=Gender.MALE,
            birth_date=BIRTH,
            id_type=IdType.RESIDENT_ID,
            id_number=BOY,
            school_id=school.id,
            unit_path=school.path,
            stage=Stage.SENIOR,
            grade=1,
            status=RecordStatus.IN_SCHOOL,
            registration_state=RegistrationState.REGISTERED,
            details={},
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        uow.session.add(record)
    matched = parse("G" + BOY, "张三", "男", BIRTH, "居民身份证", BOY, stage=Stage.VOCATIONAL, number=2)
    matched.state, matched.matched_record_id = ImportRowState.MATCHED, record.id
    matched.errors.append(senior_warning(2, Stage.SENIOR, RecordStatus.IN_SCHOOL) or {})
    to_confirm = parse("", "李四", "女", "2019/9/1", "无", "", stage=Stage.VOCATIONAL, number=3)
    to_confirm.state, to_confirm.candidate_ids = ImportRowState.TO_CONFIRM, [record.id]
    invalid = parse("", "", "男", "2019-02-30", "居民身份证", "", stage=Stage.VOCATIONAL, number=4)
    rows = [matched, to_confirm, invalid]

    async def store(uow: UnitOfWork) -> int:
        continuation = ContinuationImport(
            school_id=school.id,
            unit_path=school.path,
            state="CLASSIFIED",
            target_stage="VOCATIONAL",
            counts={},
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        uow.session.add(continuation)
        await uow.session.flush()
        await insert_rows(uow.session, continuation.id, rows)
        return continuation.id

    with pytest.raises(RuntimeError, match="after the rows"):
        async with db.unit_of_work(clock, settings) as uow:
            await store(uow)
            raise RuntimeError("something failed after the rows were written")
    async with db.unit_of_work(clock, settings) as uow:
        assert await count_rows(uow.session, ContinuationRow) == 0
        assert await count_rows(uow.session, ContinuationImport) == 0
        import_id = await store(uow)
    async with db.unit_of_work(clock, settings) as uow:
        stored = (
            await uow.session.scalars(
                select(ContinuationRow)
                .where(ContinuationRow.import_id == import_id)
                .order_by(ContinuationRow.row_number)
            )
        ).all()

    assert [
        (
            r.row_number,
            r.name,
            r.gender,
            r.birth_date,
            r.id_type,
            r.id_number,
            r.national_number,
            r.state,
            r.candidate_ids,
            r.matched_record_id,
            r.record_id,
            r.errors,
            r.details,
        )
        for r in stored
    ] == [
        (
            row.number,
            row.name,
            row.gender,
            row.birth_date,
            row.id_type,
            row.id_number,
            row.national_number,
            row.state,
            row.candidate_ids,
            row.matched_record_id,
            None,
            row.errors,
            {},
        )
        for row in rows
    ]
    assert stored[0].errors[0]["decision"] is None
    assert (stored[2].state, stored[2].name, stored[2].birth_date) == (ImportRowState.INVALID, None, None)
