"""The field catalogue (FLD) and validation of entered values: every error at once, Excel-friendly input."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from backend.domain.records.fields import (
    BY_LABEL,
    CATALOGUE,
    IDENTITY_KEYS,
    KEY_INFORMATION_KEYS,
    VOLATILE_KEYS,
    FieldGroup,
    validate_fields,
    validate_guardians,
)
from backend.domain.records.id_numbers import make_resident_id
from backend.models.enums import Gender, IdType
from tests.domain.records.support import student_values

TODAY = date(2026, 11, 25)

# The labels of RULES FLD, group by group (★ fields and the rest).
FLD_LABELS = {
    FieldGroup.PERSONAL: "姓名 性别 出生日期 出生地 籍贯 民族 国籍/地区 身份证件类型 身份证件号 身份证件有效期 港澳台侨外 "
    "政治面貌 健康状况 照片 姓名拼音 曾用名 户口所在地 户口性质 特长",
    FieldGroup.ENROLMENT: "学籍辅号 班内学号 年级 班级 入学年月 入学方式 就读方式 学生来源",
    FieldGroup.CONTACT: "现住址 通信地址 家庭地址 联系电话 邮政编码 电子信箱",
    FieldGroup.EXTENDED: "是否独生子女 是否受过学前教育 是否留守儿童 是否进城务工人员随迁子女 是否孤儿 是否烈士或优抚子女 "
    "随班就读 残疾人类型 是否需要申请资助 是否享受一补 是否需要乘坐校车 上下学距离（公里） 上下学方式 "
    "是否持有居住证 居住证签发机关 居住证签发日期",
}
REQUIRED_LABELS = (
    "姓名 性别 出生日期 出生地 籍贯 民族 国籍/地区 身份证件类型 港澳台侨外 健康状况 户口所在地 户口性质 "
    "年级 班级 入学年月 入学方式 就读方式 现住址 通信地址 家庭地址 联系电话 邮政编码 是否独生子女 是否受过学前教育"
).split()


def test_catalogue_holds_every_fld_field_in_its_group() -> None:
    for group, labels in FLD_LABELS.items():
        assert {spec.label_zh for spec in CATALOGUE.values() if spec.group is group} == set(labels.split())
    assert {spec.label_zh for spec in CATALOGUE.values() if spec.required} == set(REQUIRED_LABELS)
    assert all(re.fullmatch(r"[a-z][a-zA-Z]*", key) for key in CATALOGUE)
    assert BY_LABEL["民族"].key == "ethnicity"


def test_key_information_and_identity_fields() -> None:
    # RULES: SEC-6, CHG-3
    assert KEY_INFORMATION_KEYS == {"name", "gender", "birthDate", "idType", "idNumber", "photo"}
    assert IDENTITY_KEYS == {"name", "gender", "birthDate", "idType", "idNumber"}


def test_volatile_and_residence_permit_fields() -> None:
    # RULES: CHG-5, CHG-6
    assert VOLATILE_KEYS == {
        "isLeftBehind",
        "isMigrantChild",
        "politicalStatus",
        "currentAddress",
        "phone",
        "householdPlace",
        "commuteDistance",
        "commuteMode",
    }
    assert {"hasResidencePermit", "residencePermitAuthority", "residencePermitIssueDate"} <= CATALOGUE.keys()


def test_complete_values_are_clean() -> None:
    clean, errors = validate_fields(student_values(), today=TODAY, partial=False)

    assert errors == []
    assert clean["gender"] is Gender.MALE
    assert clean["idType"] is IdType.RESIDENT_ID
    assert clean["birthDate"] == date(2018, 3, 15)
    assert clean["entryDate"] == date(2024, 9, 1)
    assert clean["isOnlyChild"] is False


def test_every_error_is_collected_not_the_first_only() -> None:
    good_id = student_values()["idNumber"]
    bad_check = good_id[:17] + ("0" if good_id[17] != "0" else "1")
    values = student_values(birthDate="2018-02-30", entryDate="2024-13", idNumber=bad_check, ethnicity="99")

    _, errors = validate_fields(values, today=TODAY, partial=False)

    assert [(e.key, e.code) for e in errors] == [
        ("birthDate", "INVALID_DATE"),
        ("ethnicity", "UNKNOWN_CODE"),
        ("entryDate", "INVALID_DATE"),
        ("idNumber", "INVALID_ID_NUMBER"),
    ]
    assert "2月没有30日" in errors[0].message_zh
    assert "月份应在1至12之间" in errors[2].message_zh
    assert "校验位" in errors[3].message_zh


def test_every_missing_required_field_is_named() -> None:
    _, errors = validate_fields({}, today=TODAY, partial=False)

    typed_in = [label for label in REQUIRED_LABELS if label not in ("年级", "班级")]
    assert len(errors) == len(typed_in)
    assert {e.code for e in errors} == {"REQUIRED"}


def test_partial_edit_may_not_clear_a_required_field() -> None:
    clean, errors = validate_fields({"phone": "0551-62881234", "email": ""}, today=TODAY, partial=True)
    assert errors == []
    assert clean == {"phone": "0551-62881234", "email": None}

    _, errors = validate_fields({"phone": " "}, today=TODAY, partial=True)
    assert [(e.key, e.code) for e in errors] == [("phone", "REQUIRED")]


def test_excel_style_input_is_understood() -> None:
    clean, errors = validate_fields(
        {
            "gender": "女",
            "ethnicity": "汉族",
            "healthStatus": 1,
            "householdType": "非农业户口",
            "overseasChinese": "0",
            "isLeftBehind": "是",
            "isOrphan": "否",
            "commuteDistance": "2.5",
            "entryDate": "2024/9",
            "nationality": "chn",
        },
        today=TODAY,
        partial=True,
    )
    assert errors == []
    assert clean == {
        "gender": Gender.FEMALE,
        "ethnicity": "01",
        "healthStatus": "1",
        "householdType": "2",
        "overseasChinese": "00",
        "isLeftBehind": True,
        "isOrphan": False,
        "commuteDistance": Decimal("2.5"),
        "entryDate": date(2024, 9, 1),
        "nationality": "CHN",
    }


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"birthDate": "2027-01-01"}, [("birthDate", "INVALID_DATE")]),
        ({"phone": "12345"}, [("phone", "INVALID_FORMAT")]),
        ({"postalCode": "2300"}, [("postalCode", "INVALID_FORMAT")]),
        ({"name": "张" * 51}, [("name", "TOO_LONG")]),
        ({"commuteDistance": "1.25"}, [("commuteDistance", "INVALID_INPUT")]),
        ({"grade": 3}, [("grade", "NOT_EDITABLE")]),
        ({"shoeSize": 38}, [("shoeSize", "UNKNOWN_FIELD")]),
    ],
)
def test_one_bad_value(values: dict[str, object], expected: list[tuple[str, str]]) -> None:
    _, errors = validate_fields(values, today=TODAY, partial=True)
    assert [(e.key, e.code) for e in errors] == expected


def test_id_number_must_agree_with_birth_date_and_gender() -> None:
    values = {**student_values(), "birthDate": "2018-03-16", "gender": "FEMALE"}

    _, errors = validate_fields(values, today=TODAY, partial=False)

    assert [e.key for e in errors] == ["birthDate", "gender"]
    assert "2018-03-15" in errors[0].message_zh


def test_id_type_and_number_go_together() -> None:
    no_id = student_values(id_type=IdType.NONE, idNumber="340102201803150011")
    _, errors = validate_fields(no_id, today=TODAY, partial=False)
    assert [(e.key, e.code) for e in errors] == [("idNumber", "INVALID_ID_NUMBER")]

    missing = student_values()
    del missing["idNumber"]
    _, errors = validate_fields(missing, today=TODAY, partial=False)
    assert [(e.key, e.code) for e in errors] == [("idNumber", "REQUIRED")]

    clean, errors = validate_fields(
        student_values(id_type=IdType.PASSPORT, idNumber=" e1234567 "), today=TODAY, partial=False
    )
    assert errors == []
    assert clean["idNumber"] == "E1234567"


def test_an_edit_of_one_identity_field_is_checked_against_the_others() -> None:
    context = {"idType": IdType.RESIDENT_ID, "birthDate": date(2018, 3, 15), "gender": Gender.MALE}
    other = make_resident_id("340102", date(2018, 3, 16), 0, Gender.MALE)

    _, errors = validate_fields({"idNumber": other}, today=TODAY, partial=True, context=context)

    assert [e.key for e in errors] == ["idNumber"]


def test_residence_permit_needs_authority_and_date() -> None:
    # RULES: CHG-6
    _, errors = validate_fields({"hasResidencePermit": True}, today=TODAY, partial=True)
    assert [(e.key, e.code) for e in errors] == [
        ("residencePermitAuthority", "REQUIRED"),
        ("residencePermitIssueDate", "REQUIRED"),
    ]

    clean, errors = validate_fields(
        {
            "hasResidencePermit": "是",
            "residencePermitAuthority": "合肥市公安局瑶海分局",
            "residencePermitIssueDate": "2025-06-01",
        },
        today=TODAY,
        partial=True,
    )
    assert errors == []
    assert clean["residencePermitIssueDate"] == date(2025, 6, 1)


def test_guardians_are_checked_entry_by_entry() -> None:
    rows, errors = validate_guardians(
        [
            {"name": "张建国", "relation": "父亲", "phone": "13912345678"},
            {"relation": "", "phone": "911", "idType": "RESIDENT_ID", "idNumber": "340102198001010000"},
        ],
        today=TODAY,
    )

    assert [(e.key, e.code) for e in errors] == [
        ("guardians[1].phone", "INVALID_FORMAT"),
        ("guardians[1].name", "REQUIRED"),
        ("guardians[1].relation", "REQUIRED"),
        ("guardians[1].idNumber", "INVALID_ID_NUMBER"),
    ]
    assert rows[0]["isGuardian"] is True

    _, errors = validate_guardians([], today=TODAY)
    assert [(e.key, e.code) for e in errors] == [("guardians", "REQUIRED")]
