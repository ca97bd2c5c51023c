"""Resident ID numbers (GB 11643-1999) and national number formats (NUM-7)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from backend.domain.records.id_numbers import (
    InvalidIdNumberError,
    ResidentId,
    check_digit,
    make_resident_id,
    mask_changes,
    mask_id_number,
    parse_resident_id,
    upgrade_15_to_18,
    validate_resident_id,
)
from backend.domain.records.national_numbers import (
    InvalidNationalNumberError,
    NationalNumber,
    NationalNumberKind,
    g_number,
    j_number,
    l_number,
    parse_national_number,
)
from backend.models.enums import Gender

TODAY = date(2026, 11, 25)


@pytest.mark.parametrize(
    ("first17", "expected"),
    [
        ("11010519491231002", "X"),  # the example in GB 11643-1999
        ("44052419800101001", "3"),
        # 3·7+4·9+0·10+1·5+0·8+4·4+2·2+0·1+1·6+5·3+0·7+6·9+0·10+1·5+0·8+0·4+2·2 = 166; 166 mod 11 = 1 → "0"
        ("34010420150601002", "0"),
        ("34020720121231001", check_digit("34020720121231001")),
    ],
)
def test_check_digit(first17: str, expected: str) -> None:
    assert check_digit(first17) == expected


def test_check_digit_covers_every_remainder() -> None:
    seen = {check_digit(f"3401042015060100{n}") for n in range(10)} | {
        check_digit(f"340104201506{n:02d}001") for n in range(1, 29)
    }
    assert seen == set("10X98765432")


@pytest.mark.parametrize("bad", ["1101051949123100", "1101051949123100a", "110105194912310021"])
def test_check_digit_refuses_anything_but_17_digits(bad: str) -> None:
    with pytest.raises(ValueError, match="17 digits"):
        check_digit(bad)


def test_validate_standard_example() -> None:
    assert validate_resident_id("11010519491231002X", today=TODAY) == ResidentId(
        number="11010519491231002X",
        region_code="110105",
        birth_date=date(1949, 12, 31),
        gender=Gender.FEMALE,
    )


def test_validate_normalises_lower_case_x_full_width_and_spaces() -> None:
    assert validate_resident_id(" 11010519491231002x ", today=TODAY).number == "11010519491231002X"
    full_width = "１１０１０５１９４９１２３１００２Ｘ"
    assert validate_resident_id(full_width, today=TODAY).number == "11010519491231002X"


def test_odd_order_digit_is_male() -> None:
    assert validate_resident_id("440524198001010013", today=TODAY).gender is Gender.MALE


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("", "身份证号码不能为空"),
        ("110105194912310", "15位旧身份证号码须先升级为18位"),
        ("11010519491231002", "身份证号码应为18位，实际为17位"),
        ("11010519491231002X1", "身份证号码应为18位，实际为19位"),
        ("1101051949123100AX", "身份证号码前17位须为数字，最后一位须为数字或X"),
        ("11010519491231002Y", "身份证号码前17位须为数字，最后一位须为数字或X"),
        ("ABCDEFGHIJKLMNOPQR", "身份证号码前17位须为数字，最后一位须为数字或X"),
        ("99010519491231002X", "身份证号码前两位“99”不是有效的省级行政区划代码"),
        ("010105194912310020", "身份证号码前两位“01”不是有效的省级行政区划代码"),
        ("11010518991231002X", "身份证号码中的出生日期1899-12-31早于1900年"),
        ("110105194912310021", "身份证号码校验位不正确，请核对号码"),
    ],
)
def test_validate_refuses(number: str, message: str) -> None:
    with pytest.raises(InvalidIdNumberError) as caught:
        validate_resident_id(number, today=TODAY)
    assert caught.value.code == "INVALID_ID_NUMBER"
    assert caught.value.message == message
    assert caught.value.field == "idNumber"


@pytest.mark.parametrize("day", ["20150230", "20150229", "20151301", "20150100", "20150431"])
def test_validate_refuses_impossible_birth_date(day: str) -> None:
    first17 = f"340104{day}002"
    with pytest.raises(InvalidIdNumberError) as caught:
        validate_resident_id(first17 + check_digit(first17), today=TODAY)
    assert caught.value.message == f"身份证号码中的出生日期“{day}”不是有效日期"


def test_validate_accepts_february_29_of_a_leap_year() -> None:
    number = make_resident_id("340104", date(2016, 2, 29), 0, Gender.FEMALE)
    assert validate_resident_id(number, today=TODAY).birth_date == date(2016, 2, 29)


def test_validate_refuses_future_birth_date() -> None:
    born_tomorrow = make_resident_id("340104", date(2026, 11, 26), 0, Gender.MALE)
    with pytest.raises(InvalidIdNumberError) as caught:
        validate_resident_id(born_tomorrow, today=TODAY)
    assert caught.value.message == "身份证号码中的出生日期2026-11-26晚于今天"
    # Born today is fine, and the same number passes once "today" has moved on.
    born_today = make_resident_id("340104", TODAY, 0, Gender.MALE)
    assert validate_resident_id(born_today, today=TODAY).birth_date == TODAY
    assert validate_resident_id(born_tomorrow, today=date(2026, 11, 26)).birth_date == date(2026, 11, 26)
    assert parse_resident_id(born_tomorrow).birth_date == date(2026, 11, 26)


def test_unknown_region_within_a_known_province_is_accepted() -> None:
    # Historical codes are not in today's list, so only the province part is checked.
    number = make_resident_id("349999", date(1990, 1, 1), 0, Gender.MALE)
    assert validate_resident_id(number, today=TODAY).region_code == "349999"


def test_error_names_the_given_field() -> None:
    with pytest.raises(InvalidIdNumberError) as caught:
        validate_resident_id("123", today=TODAY, field="guardians.0.idNumber")
    assert caught.value.field == "guardians.0.idNumber"


def test_upgrade_15_to_18() -> None:
    assert upgrade_15_to_18("110105491231002") == "11010519491231002X"
    upgraded = upgrade_15_to_18("340104850615123")
    assert upgraded[:6] == "340104"
    assert upgraded[6:14] == "19850615"
    assert upgraded[14:17] == "123"
    assert validate_resident_id(upgraded, today=TODAY).gender is Gender.MALE


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("11010549123100", "15位身份证号码须为15位数字"),
        ("11010549123100X", "15位身份证号码须为15位数字"),
        ("11010519491231002X", "15位身份证号码须为15位数字"),
        ("990105491231002", "身份证号码前两位“99”不是有效的省级行政区划代码"),
        ("110105490230002", "身份证号码中的出生日期“19490230”不是有效日期"),
    ],
)
def test_upgrade_refuses(number: str, message: str) -> None:
    with pytest.raises(InvalidIdNumberError) as caught:
        upgrade_15_to_18(number)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("11010519491231002X", "110105********002X"),
        ("110105491231002", "110105*****1002"),
        ("E12345678", "*******78"),
        ("H1234567890", "*********90"),
        ("AB", "**"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_id_number(number: str | None, masked: str | None) -> None:
    assert mask_id_number(number) == masked
    if number is not None:
        assert len(mask_id_number(number) or "") == len(number)


def test_make_resident_id_encodes_gender_and_sequence() -> None:
    men = [make_resident_id("340104", date(2019, 9, 1), n, Gender.MALE) for n in range(3)]
    women = [make_resident_id("340104", date(2019, 9, 1), n, Gender.FEMALE) for n in range(3)]
    assert [m[14:17] for m in men] == ["001", "003", "005"]
    assert [w[14:17] for w in women] == ["002", "004", "006"]
    assert all(validate_resident_id(m, today=TODAY).gender is Gender.MALE for m in men)
    assert all(validate_resident_id(w, today=TODAY).gender is Gender.FEMALE for w in women)
    assert make_resident_id("340104", date(2019, 9, 1), 499, Gender.MALE)[14:17] == "999"
    assert make_resident_id("340104", date(2019, 9, 1), 498, Gender.FEMALE)[14:17] == "998"


@pytest.mark.parametrize(
    ("region", "sequence", "gender"),
    [
        ("34010", 0, Gender.MALE),
        ("990104", 0, Gender.MALE),
        ("340104", 500, Gender.MALE),
        ("340104", 499, Gender.FEMALE),
        ("340104", -1, Gender.MALE),
    ],
)
def test_make_resident_id_refuses(region: str, sequence: int, gender: Gender) -> None:
    with pytest.raises(ValueError, match="region|sequence"):
        make_resident_id(region, date(2019, 9, 1), sequence, gender)


def test_g_number_is_g_plus_id_number() -> None:  # RULES: NUM-7
    number = g_number("11010519491231002x")
    assert number == "G11010519491231002X"
    assert len(number) == 19
    assert parse_national_number(number) == NationalNumber(
        number="G11010519491231002X",
        kind=NationalNumberKind.G,
        area_code="110105",
        birth_date=date(1949, 12, 31),
        serial="002",
        id_number="11010519491231002X",
    )


def test_g_number_refuses_an_invalid_id_number() -> None:  # RULES: NUM-7
    with pytest.raises(InvalidIdNumberError) as caught:
        g_number("110105194912310021")
    assert caught.value.message == "身份证号码校验位不正确，请核对号码"


def test_j_number_format_and_check_character() -> None:  # RULES: NUM-7
    number = j_number("340104", date(2018, 3, 5), 7)
    assert number == "J34010420180305007" + check_digit("34010420180305007")
    assert len(number) == 19
    assert parse_national_number(number) == NationalNumber(
        number=number,
        kind=NationalNumberKind.J,
        area_code="340104",
        birth_date=date(2018, 3, 5),
        serial="007",
    )


def test_l_number_format() -> None:  # RULES: NUM-7
    number = l_number("340104", date(2018, 3, 5), "0421")
    assert number == "L340104201803050421"
    assert len(number) == 19
    parsed = parse_national_number(number.lower())
    assert (parsed.kind, parsed.area_code, parsed.birth_date, parsed.serial) == (
        NationalNumberKind.L,
        "340104",
        date(2018, 3, 5),
        "0421",
    )
    assert parsed.id_number is None


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: j_number("3401", date(2018, 3, 5), 7), "地区码“3401”不是有效的行政区划代码"),
        (lambda: j_number("340104", date(2018, 3, 5), 1000), "学籍号顺序码须在000至999之间"),
        (lambda: l_number("990104", date(2018, 3, 5), "0421"), "地区码“990104”不是有效的行政区划代码"),
        (lambda: l_number("340104", date(2018, 3, 5), "42"), "临时学籍号末4位须为数字"),
        (lambda: l_number("340104", date(2018, 3, 5), "04a1"), "临时学籍号末4位须为数字"),
    ],
)
def test_builders_refuse_bad_parts(build: Callable[[], str], message: str) -> None:  # RULES: NUM-7
    with pytest.raises(InvalidNationalNumberError) as caught:
        build()
    assert caught.value.code == "INVALID_NATIONAL_NUMBER"
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("G11010519491231002", "学籍号应为19位，实际为18位"),
        ("11010519491231002X1", "学籍号须以G、J或L开头"),
        ("X11010519491231002X", "学籍号须以G、J或L开头"),
        ("G110105194912310021", "G字头学籍号：身份证号码校验位不正确，请核对号码"),
        ("J3401042018030500A1", "J字头学籍号除字母外须为数字"),
        ("L34010420180305042X", "L字头学籍号除字母外须为数字"),
        ("L990104201803050421", "学籍号中的地区码“990104”不是有效的行政区划代码"),
        ("L340104201802300421", "学籍号中的出生日期“20180230”不是有效日期"),
        ("J340104201803050070", "J字头学籍号校验位不正确，请核对号码"),
    ],
)
def test_parse_national_number_refuses(number: str, message: str) -> None:  # RULES: NUM-7
    with pytest.raises(InvalidNationalNumberError) as caught:
        parse_national_number(number)
    assert caught.value.code == "INVALID_NATIONAL_NUMBER"
    assert caught.value.message == message
    assert caught.value.field == "nationalNumber"


def test_changes_show_every_id_number_masked() -> None:
    # RULES: SEC-4, SEC-7 — history and change requests show who changed what, never a full ID number
    guardian_id = "34010219800101002X"
    changes = {
        "idNumber": ["340102201801010011", "340102201801010038"],
        "guardians": [[{"name": "张父", "idNumber": guardian_id}], [{"name": "张父", "idNumber": None}]],
        "name": ["张三", "张叁"],
    }

    shown = mask_changes(changes)

    assert shown["idNumber"] == ["340102********0011", "340102********0038"]
    assert shown["guardians"] == [
        [{"name": "张父", "idNumber": "340102********002X"}],
        [{"name": "张父", "idNumber": None}],
    ]
    assert shown["name"] == ["张三", "张叁"]
    assert changes["guardians"][0][0]["idNumber"] == guardian_id  # the stored value is untouched
