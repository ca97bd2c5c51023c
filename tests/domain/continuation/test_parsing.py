"""Reading lists and validating their rows, with no database (REG-8 (1), REG-9)."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from backend.domain.continuation.classify import (
    ListRow,
    fast_check_digit,
    flag_duplicates,
    parse_list_row,
    resident_id_facts,
)
from backend.domain.continuation.errors import ImportColumnsError, ImportEmptyError, ImportFileError
from backend.domain.continuation.reader import SheetRow, read_sheet
from backend.domain.continuation.repository import records_by_identity
from backend.domain.continuation.service import read_list, template_xlsx
from backend.domain.records.id_numbers import (
    InvalidIdNumberError,
    check_digit,
    make_resident_id,
    normalize,
    validate_resident_id,
)
from backend.models.enums import Gender, IdType, ImportRowState, Stage
from tests.domain.continuation.sheets import HEADER, VOCATIONAL_HEADER, open_xlsx, xlsx

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


# --- the lookup statements ---------------------------------------------------------------------------------


def test_identity_lookups_are_padded_to_a_few_statement_sizes() -> None:
    keys = [(f"学生{i}", Gender.MALE, BIRTH) for i in range(3)]

    statement, params = records_by_identity(keys)
    same, _ = records_by_identity(keys[:1])
    bigger, bigger_params = records_by_identity(keys * 10)

    assert statement is same  # built once per size, reused
    assert len(params) == 8 * 3
    assert params["n7"] == "学生2"  # padded with the last key
    assert len(bigger_params) == 32 * 3
    assert bigger is not statement
    with pytest.raises(ValueError, match="between 1 and 500"):
        records_by_identity(keys * 200)
    with pytest.raises(ValueError, match="between 1 and 500"):
        records_by_identity([])
