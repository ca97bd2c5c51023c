"""The field catalogue of a student record (FLD) and the validation of entered values, with no I/O.

Every field a record holds is one ``FieldSpec``: its camelCase ``key`` (the GraphQL input name; Excel
headers map to ``label_zh``), its group on the national form, whether it is required nationally (★), its
kind and limits, its code table, and where it lives: a ``StudentRecord`` column when ``column`` is set,
otherwise ``details[key]``. Two flags carry rules:

- ``key_information`` (SEC-6): name, gender, birth date, ID type, ID number, photo. Once a record has been
  submitted these change only through an approved change request.
- ``identity`` (CHG-3): the five fields whose change re-runs the duplicate check.

``volatile`` marks the fields the class teacher reports and the county checks each semester (CHG-5).
``managed`` fields (grade, class) follow the class the record is placed in and are never typed in.

``validate_fields`` collects every error of an input, not the first only, and returns clean values:
``date`` for dates, ``bool``, ``int``, ``Decimal``, the enum for gender and ID type, and code strings.
``record_values`` and ``assign_values`` read and write a record through the catalogue.

Code tables are the ones on the national record form: 民族 GB 3304-91 (01–56, 97 其他,
98 外国血统中国籍人士), 港澳台侨外 GB/T 2261.5-style codes, 健康状况 GB/T 4767-84 one-digit codes,
政治面貌 GB/T 4762 (plus 14 少先队员, which most primary pupils are: check that code against the
province's template), 残疾人类型 GB/T 26341.
A province that adds fields or codes extends ``CATALOGUE``; the form's own lists (入学方式, 就读方式 …) use
short local codes.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from backend.domain.records.errors import FieldError
from backend.domain.records.id_numbers import (
    EARLIEST_BIRTH,
    InvalidIdNumberError,
    normalize,
    parse_resident_id,
    validate_resident_id,
)
from backend.models.enums import Gender, IdType


class FieldGroup(enum.StrEnum):
    PERSONAL = "PERSONAL"
    ENROLMENT = "ENROLMENT"
    CONTACT = "CONTACT"
    EXTENDED = "EXTENDED"
    GUARDIAN = "GUARDIAN"


class FieldKind(enum.StrEnum):
    TEXT = "TEXT"
    DATE = "DATE"
    BOOL = "BOOL"
    CODE = "CODE"  # a code from ``choices`` (or matching ``pattern`` when the table is too large to list)
    ENUM = "ENUM"  # one of a Python enum's values (``enum_type``)
    INT = "INT"
    DECIMAL = "DECIMAL"


@dataclass(frozen=True, eq=False)
class FieldSpec:
    key: str
    label_zh: str
    group: FieldGroup
    kind: FieldKind
    required: bool = False
    max_length: int | None = None
    choices: Mapping[str, str] | None = None  # code -> Chinese name
    column: str | None = None
    key_information: bool = False
    identity: bool = False
    volatile: bool = False
    managed: bool = False
    pattern: str | None = None  # the whole value must match
    pattern_hint: str | None = None  # what ``pattern`` means, for the error message
    enum_type: type[enum.StrEnum] | None = None
    not_future: bool = False  # DATE: on or before today
    year_month: bool = False  # DATE: 入学年月; "2026-09" is the first of the month
    max_value: Decimal | None = None  # DECIMAL / INT
    decimal_places: int = 0  # DECIMAL


# --- code tables -----------------------------------------------------------------------------------

GENDERS = {Gender.MALE.value: "男", Gender.FEMALE.value: "女"}
ID_TYPES = {
    IdType.RESIDENT_ID.value: "居民身份证",
    IdType.PASSPORT.value: "护照",
    IdType.HK_MACAO_PERMIT.value: "港澳居民来往内地通行证",
    IdType.TAIWAN_PERMIT.value: "台湾居民来往大陆通行证",
    IdType.NONE.value: "无",
}
ETHNICITIES = {
    f"{i:02d}": name
    for i, name in enumerate(
        (
            "汉族 蒙古族 回族 藏族 维吾尔族 苗族 彝族 壮族 "
            "布依族 朝鲜族 满族 侗族 瑶族 白族 土家族 哈尼族 "
            "哈萨克族 傣族 黎族 傈僳族 佤族 畲族 高山族 拉祜族 "
            "水族 东乡族 纳西族 景颇族 柯尔克孜族 土族 达斡尔族 仫佬族 "
            "羌族 布朗族 撒拉族 毛南族 仡佬族 锡伯族 阿昌族 普米族 "
            "塔吉克族 怒族 乌孜别克族 俄罗斯族 鄂温克族 德昂族 保安族 裕固族 "
            "京族 塔塔尔族 独龙族 鄂伦春族 赫哲族 门巴族 珞巴族 基诺族"
        ).split(),
        start=1,
    )
} | {"97": "其他", "98": "外国血统中国籍人士"}
OVERSEAS_CHINESE = {
    "00": "否",
    "01": "香港同胞",
    "02": "香港同胞亲属",
    "03": "澳门同胞",
    "04": "澳门同胞亲属",
    "05": "台湾同胞",
    "06": "台湾同胞亲属",
    "11": "华侨",
    "12": "侨眷",
    "13": "归侨",
    "14": "归侨子女",
    "21": "归国留学人员",
    "31": "非华裔中国人",
    "41": "外籍华裔人",
    "51": "外国人",
    "99": "其他",
}
POLITICAL_STATUSES = {
    "01": "中国共产党党员",
    "02": "中国共产党预备党员",
    "03": "中国共产主义青年团团员",
    "04": "中国国民党革命委员会会员",
    "05": "中国民主同盟盟员",
    "06": "中国民主建国会会员",
    "07": "中国民主促进会会员",
    "08": "中国农工民主党党员",
    "09": "中国致公党党员",
    "10": "九三学社社员",
    "11": "台湾民主自治同盟盟员",
    "12": "无党派民主人士",
    "13": "群众",
    "14": "少先队员",
}
HEALTH_STATUSES = {"1": "健康或良好", "2": "一般或较弱", "3": "有慢性病", "5": "有生理缺陷", "6": "残疾"}
HOUSEHOLD_TYPES = {"1": "农业户口", "2": "非农业户口", "3": "居民户口"}
ENTRY_MODES = {"1": "就近入学", "2": "相对就近入学", "3": "统一招生考试", "4": "自主招生", "9": "其他"}
STUDY_MODES = {"1": "走读", "2": "住校", "3": "借宿", "9": "其他"}
STUDENT_SOURCES = {"1": "正常入学", "2": "借读", "9": "其他"}
COMMUTE_MODES = {
    "1": "步行",
    "2": "自行车（含电动自行车）",
    "3": "公共交通（含城市公交、农村客运、地铁）",
    "4": "家长自行接送",
    "5": "校车",
    "9": "其他",
}
INCLUSIVE_EDUCATION = {
    "0": "非随班就读",
    "1": "视力残疾随班就读",
    "2": "听力残疾随班就读",
    "3": "智力残疾随班就读",
    "4": "其他残疾随班就读",
}
DISABILITY_TYPES = {
    "0": "无残疾",
    "1": "视力残疾",
    "2": "听力残疾",
    "3": "言语残疾",
    "4": "肢体残疾",
    "5": "智力残疾",
    "6": "精神残疾",
    "7": "多重残疾",
    "9": "其他残疾",
}

PHONE = r"1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,6})?"
PHONE_HINT = "11位手机号码或带区号的固定电话"
DIVISION_12 = r"\d{12}"
OTHER_ID = re.compile(r"[A-Z0-9-]{4,32}")

_P, _E, _C, _X = FieldGroup.PERSONAL, FieldGroup.ENROLMENT, FieldGroup.CONTACT, FieldGroup.EXTENDED
_T, _D, _B, _K = FieldKind.TEXT, FieldKind.DATE, FieldKind.BOOL, FieldKind.CODE


def _specs(*specs: FieldSpec) -> dict[str, FieldSpec]:
    return {spec.key: spec for spec in specs}


# --- the catalogue (FLD) ---------------------------------------------------------------------------

CATALOGUE: dict[str, FieldSpec] = _specs(
    # Personal
    FieldSpec("name", "姓名", _P, _T, True, 50, column="name", key_information=True, identity=True),
    FieldSpec(
        "gender",
        "性别",
        _P,
        FieldKind.ENUM,
        True,
        choices=GENDERS,
        column="gender",
        key_information=True,
        identity=True,
        enum_type=Gender,
    ),
    FieldSpec(
        "birthDate",
        "出生日期",
        _P,
        _D,
        True,
        column="birth_date",
        key_information=True,
        identity=True,
        not_future=True,
    ),
    FieldSpec("birthPlace", "出生地", _P, _K, True, pattern=DIVISION_12, pattern_hint="12位行政区划代码"),
    FieldSpec("nativePlace", "籍贯", _P, _T, True, 50),
    FieldSpec("ethnicity", "民族", _P, _K, True, choices=ETHNICITIES, column="ethnicity"),
    FieldSpec(
        "nationality",
        "国籍/地区",
        _P,
        _K,
        True,
        column="nationality",
        pattern=r"[A-Z]{3}",
        pattern_hint="3位字母国家和地区代码（如 CHN）",
    ),
    FieldSpec(
        "idType",
        "身份证件类型",
        _P,
        FieldKind.ENUM,
        True,
        choices=ID_TYPES,
        column="id_type",
        key_information=True,
        identity=True,
        enum_type=IdType,
    ),
    FieldSpec(
        "idNumber",
        "身份证件号",
        _P,
        _T,
        max_length=32,
        column="id_number",
        key_information=True,
        identity=True,
    ),
    FieldSpec("idValidUntil", "身份证件有效期", _P, _D),
    FieldSpec("overseasChinese", "港澳台侨外", _P, _K, True, choices=OVERSEAS_CHINESE),
    FieldSpec("politicalStatus", "政治面貌", _P, _K, choices=POLITICAL_STATUSES, volatile=True),
    FieldSpec("healthStatus", "健康状况", _P, _K, True, choices=HEALTH_STATUSES),
    FieldSpec("photo", "照片", _P, FieldKind.INT, column="photo_id", key_information=True),
    FieldSpec(
        "namePinyin",
        "姓名拼音",
        _P,
        _T,
        max_length=60,
        pattern=r"[A-Za-z][A-Za-z ]*",
        pattern_hint="拼音字母和空格",
    ),
    FieldSpec("formerName", "曾用名", _P, _T, max_length=50),
    FieldSpec("householdPlace", "户口所在地", _P, _T, True, 100, volatile=True),
    FieldSpec("householdType", "户口性质", _P, _K, True, choices=HOUSEHOLD_TYPES),
    FieldSpec("specialty", "特长", _P, _T, max_length=200),
    # Enrolment
    FieldSpec("auxiliaryNumber", "学籍辅号", _E, _T, max_length=30),
    FieldSpec("classNumber", "班内学号", _E, _T, max_length=20),
    FieldSpec("grade", "年级", _E, FieldKind.INT, True, column="grade", managed=True),
    FieldSpec("classId", "班级", _E, FieldKind.INT, True, column="class_id", managed=True),
    FieldSpec("entryDate", "入学年月", _E, _D, True, column="entry_date", not_future=True, year_month=True),
    FieldSpec("entryMode", "入学方式", _E, _K, True, choices=ENTRY_MODES),
    FieldSpec("studyMode", "就读方式", _E, _K, True, choices=STUDY_MODES),
    FieldSpec("studentSource", "学生来源", _E, _K, choices=STUDENT_SOURCES),
    # Contact
    FieldSpec("currentAddress", "现住址", _C, _T, True, 200, volatile=True),
    FieldSpec("mailingAddress", "通信地址", _C, _T, True, 200),
    FieldSpec("homeAddress", "家庭地址", _C, _T, True, 200),
    FieldSpec("phone", "联系电话", _C, _T, True, 32, volatile=True, pattern=PHONE, pattern_hint=PHONE_HINT),
    FieldSpec("postalCode", "邮政编码", _C, _T, True, pattern=r"\d{6}", pattern_hint="6位数字"),
    FieldSpec(
        "email",
        "电子信箱",
        _C,
        _T,
        max_length=100,
        pattern=r"[^@\s]+@[^@\s]+\.[^@\s]+",
        pattern_hint="电子邮件地址",
    ),
    # Extended
    FieldSpec("isOnlyChild", "是否独生子女", _X, _B, True),
    FieldSpec("hadPreschool", "是否受过学前教育", _X, _B, True),
    FieldSpec("isLeftBehind", "是否留守儿童", _X, _B, column="is_left_behind", volatile=True),
    FieldSpec("isMigrantChild", "是否进城务工人员随迁子女", _X, _B, column="is_migrant_child", volatile=True),
    FieldSpec("isOrphan", "是否孤儿", _X, _B),
    FieldSpec("isMartyrChild", "是否烈士或优抚子女", _X, _B),
    FieldSpec("inclusiveEducation", "随班就读", _X, _K, choices=INCLUSIVE_EDUCATION),
    FieldSpec("disabilityType", "残疾人类型", _X, _K, choices=DISABILITY_TYPES),
    FieldSpec("needsAid", "是否需要申请资助", _X, _B),
    FieldSpec("receivesSubsidy", "是否享受一补", _X, _B),
    FieldSpec("needsSchoolBus", "是否需要乘坐校车", _X, _B),
    FieldSpec(
        "commuteDistance",
        "上下学距离（公里）",
        _X,
        FieldKind.DECIMAL,
        volatile=True,
        max_value=Decimal("999.9"),
        decimal_places=1,
    ),
    FieldSpec("commuteMode", "上下学方式", _X, _K, choices=COMMUTE_MODES, volatile=True),
    # Residence permit (CHG-6)
    FieldSpec("hasResidencePermit", "是否持有居住证", _X, _B),
    FieldSpec("residencePermitAuthority", "居住证签发机关", _X, _T, max_length=100),
    FieldSpec("residencePermitIssueDate", "居住证签发日期", _X, _D, not_future=True),
)

_G = FieldGroup.GUARDIAN
GUARDIAN_CATALOGUE: dict[str, FieldSpec] = _specs(
    FieldSpec("name", "姓名", _G, _T, True, 50, column="name"),
    FieldSpec("relation", "关系", _G, _T, True, 20, column="relation"),
    FieldSpec("ethnicity", "民族", _G, _K, choices=ETHNICITIES, column="ethnicity"),
    FieldSpec("employer", "工作单位", _G, _T, max_length=100, column="employer"),
    FieldSpec("address", "现住址", _G, _T, max_length=200, column="address"),
    FieldSpec("householdPlace", "户口所在地", _G, _T, max_length=200, column="household_place"),
    FieldSpec(
        "phone", "联系电话", _G, _T, max_length=32, column="phone", pattern=PHONE, pattern_hint=PHONE_HINT
    ),
    FieldSpec("isGuardian", "是否监护人", _G, _B, column="is_guardian"),
    FieldSpec(
        "idType", "身份证件类型", _G, FieldKind.ENUM, choices=ID_TYPES, column="id_type", enum_type=IdType
    ),
    FieldSpec("idNumber", "身份证件号", _G, _T, max_length=32, column="id_number"),
    FieldSpec("duty", "职务", _G, _T, max_length=50, column="duty"),
)
MAX_GUARDIANS = 10

BY_LABEL: dict[str, FieldSpec] = {spec.label_zh: spec for spec in CATALOGUE.values()}
KEY_INFORMATION_KEYS = frozenset(key for key, spec in CATALOGUE.items() if spec.key_information)
IDENTITY_KEYS = frozenset(key for key, spec in CATALOGUE.items() if spec.identity)
VOLATILE_KEYS = frozenset(key for key, spec in CATALOGUE.items() if spec.volatile)
MANAGED_KEYS = frozenset(key for key, spec in CATALOGUE.items() if spec.managed)
RESIDENCE_PERMIT_KEYS = ("hasResidencePermit", "residencePermitAuthority", "residencePermitIssueDate")

_TRUE = frozenset({"true", "1", "是", "y", "yes"})
_FALSE = frozenset({"false", "0", "否", "n", "no"})
_DATE = re.compile(r"(\d{4})[-/.]?(\d{1,2})(?:[-/.]?(\d{1,2}))?")


class _Invalid(Exception):
    def __init__(self, message: str, code: str = "INVALID_INPUT") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# --- validation ------------------------------------------------------------------------------------


def validate_fields(
    values: Mapping[str, Any],
    *,
    today: date,
    partial: bool,
    context: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[FieldError]]:
    """Check entered record values against the catalogue (FLD); collect every error.

    Args:
        values: catalogue key -> value as entered (strings from forms and Excel, or Python values). An
            empty string or ``None`` clears an optional field.
        today: the local date (``local_today(clock)``): dates of birth and entry may not lie after it.
        partial: an edit of some fields. ``False`` (registration) also reports each missing required (★)
            field; ``True`` only refuses clearing one.
        context: the record's current values (``record_values``), for the rules that span fields
            (ID type and number, birth date and gender against the ID number, residence permit) when an
            edit touches only one of them.

    Returns:
        The clean values of the keys given, and the list of errors (empty when all is well).
    """
    errors: list[FieldError] = []
    clean: dict[str, Any] = {}
    for key, raw in values.items():
        spec = CATALOGUE.get(key)
        if spec is None:
            errors.append(FieldError(key, f"未知字段“{key}”", "UNKNOWN_FIELD"))
            continue
        if spec.managed:
            errors.append(FieldError(key, f"{spec.label_zh}随所在班级确定，不能直接填写", "NOT_EDITABLE"))
            continue
        try:
            value = clean_value(spec, raw, today=today)
        except _Invalid as problem:
            errors.append(FieldError(key, problem.message, problem.code))
            continue
        if value is None and spec.required:
            errors.append(FieldError(key, f"{spec.label_zh}不能为空", "REQUIRED"))
            continue
        clean[key] = value
    if not partial:
        errors.extend(
            FieldError(key, f"{spec.label_zh}为必填项", "REQUIRED")
            for key, spec in CATALOGUE.items()
            if spec.required and not spec.managed and key not in values
        )
    failed = {error.key for error in errors}
    merged = {**(context or {}), **clean}
    errors.extend(_check_identity(clean, merged, failed, today=today))
    errors.extend(_check_residence_permit(clean, merged, failed))
    errors.extend(_check_entry_after_birth(clean, merged, failed))
    if "idNumber" in clean and clean["idNumber"] is not None and "idNumber" not in failed:
        clean["idNumber"] = normalize(clean["idNumber"])
    return clean, errors


def validate_guardians(
    guardians: Sequence[Mapping[str, Any]], *, today: date
) -> tuple[list[dict[str, Any]], list[FieldError]]:
    """Check a record's family members and guardians (FLD): one or more, each with name and relation.

    Phone numbers must look like phone numbers, and a guardian's resident ID number is checked like the
    student's. Errors name the entry: ``guardians[1].phone``.
    """
    errors: list[FieldError] = []
    if not guardians:
        errors.append(FieldError("guardians", "请至少填写一名家庭成员或监护人", "REQUIRED"))
    if len(guardians) > MAX_GUARDIANS:
        errors.append(FieldError("guardians", f"家庭成员或监护人最多填写{MAX_GUARDIANS}人"))
    cleaned: list[dict[str, Any]] = []
    for index, entry in enumerate(guardians):
        prefix = f"guardians[{index}]."
        clean: dict[str, Any] = {}
        for key, raw in entry.items():
            spec = GUARDIAN_CATALOGUE.get(key)
            if spec is None:
                errors.append(FieldError(prefix + key, f"未知字段“{key}”", "UNKNOWN_FIELD"))
                continue
            try:
                clean[key] = clean_value(spec, raw, today=today)
            except _Invalid as problem:
                errors.append(FieldError(prefix + key, problem.message, problem.code))
        errors.extend(
            FieldError(prefix + key, f"{spec.label_zh}为必填项", "REQUIRED")
            for key, spec in GUARDIAN_CATALOGUE.items()
            if spec.required and clean.get(key) is None and prefix + key not in {e.key for e in errors}
        )
        number, id_type = clean.get("idNumber"), clean.get("idType")
        if number is not None and id_type in (None, IdType.NONE):
            errors.append(FieldError(prefix + "idType", "填写身份证件号时须选择身份证件类型", "REQUIRED"))
        elif number is not None:
            try:
                clean["idNumber"] = _check_id_number(id_type, number, today=today)
            except _Invalid as problem:
                errors.append(FieldError(prefix + "idNumber", problem.message, problem.code))
        clean.setdefault("isGuardian", True)
        cleaned.append(clean)
    return cleaned, errors


def clean_value(spec: FieldSpec, raw: Any, *, today: date) -> Any:
    """One value of one field, converted to its kind; ``None`` for an empty entry.

    Raises:
        _Invalid: the value does not fit the field (the message names the field in Chinese).
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    kind = spec.kind
    if kind is FieldKind.TEXT:
        return _clean_text(spec, raw)
    if kind is FieldKind.DATE:
        return _clean_date(spec, raw, today=today)
    if kind is FieldKind.BOOL:
        return _clean_bool(spec, raw)
    if kind in (FieldKind.CODE, FieldKind.ENUM):
        return _clean_code(spec, raw)
    if kind is FieldKind.INT:
        return _clean_int(spec, raw)
    return _clean_decimal(spec, raw)


def _clean_text(spec: FieldSpec, raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise _Invalid(f"{spec.label_zh}须为文字")
    text = unicodedata.normalize("NFC", str(raw)).strip()
    if spec.max_length is not None and len(text) > spec.max_length:
        raise _Invalid(f"{spec.label_zh}不能超过{spec.max_length}个字符", "TOO_LONG")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise _Invalid(f"{spec.label_zh}含有不可见的控制字符")
    _check_pattern(spec, text)
    return text


def _check_pattern(spec: FieldSpec, text: str) -> None:
    if spec.pattern is not None and not re.fullmatch(spec.pattern, text):
        raise _Invalid(f"{spec.label_zh}格式不正确，应为{spec.pattern_hint}", "INVALID_FORMAT")


def _clean_date(spec: FieldSpec, raw: Any, *, today: date) -> date:
    if isinstance(raw, date) and not isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, str):
        value = _parse_date(spec, raw.strip())
    else:
        raise _Invalid(f"{spec.label_zh}须为日期（如 2019-09-01）", "INVALID_DATE")
    if spec.year_month:
        value = value.replace(day=1)
    if spec.not_future and value > today:
        raise _Invalid(f"{spec.label_zh}{value.isoformat()}晚于今天", "INVALID_DATE")
    if value < EARLIEST_BIRTH:
        raise _Invalid(f"{spec.label_zh}{value.isoformat()}早于1900年", "INVALID_DATE")
    return value


def _parse_date(spec: FieldSpec, text: str) -> date:
    match = _DATE.fullmatch(text)
    if match is None or (match.group(3) is None and not spec.year_month):
        example = "2026-09" if spec.year_month else "2019-09-01"
        raise _Invalid(f"{spec.label_zh}“{text}”不是日期，应写作 {example}", "INVALID_DATE")
    year, month = int(match.group(1)), int(match.group(2))
    day = int(match.group(3) or 1)
    if not 1 <= month <= 12:
        raise _Invalid(f"{spec.label_zh}“{text}”的月份应在1至12之间", "INVALID_DATE")
    try:
        return date(year, month, day)
    except ValueError:
        raise _Invalid(f"{spec.label_zh}“{text}”：{year}年{month}月没有{day}日", "INVALID_DATE") from None


def _clean_bool(spec: FieldSpec, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Invalid(f"{spec.label_zh}须填“是”或“否”")


def _clean_code(spec: FieldSpec, raw: Any) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise _Invalid(f"{spec.label_zh}须为代码")
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    choices = spec.choices
    if choices is None:
        _check_pattern(spec, text.upper())
        return text.upper()
    code = _find_code(choices, text)
    if code is None:
        raise _Invalid(f"{spec.label_zh}代码“{text}”不存在", "UNKNOWN_CODE")
    return spec.enum_type(code) if spec.enum_type is not None else code


def _find_code(choices: Mapping[str, str], text: str) -> str | None:
    """A code, its Chinese name (Excel lists names), or a code whose leading zero Excel dropped."""
    if text in choices:
        return text
    if text.upper() in choices:
        return text.upper()
    for code, name in choices.items():
        if name == text:
            return code
    if text.isdigit():
        padded = text.zfill(len(next(iter(choices))))
        if padded in choices:
            return padded
    return None


def _clean_int(spec: FieldSpec, raw: Any) -> int:
    if isinstance(raw, bool):
        raise _Invalid(f"{spec.label_zh}须为整数")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.strip().isdigit():
        value = int(raw.strip())
    else:
        raise _Invalid(f"{spec.label_zh}须为整数")
    if value < 0 or (spec.max_value is not None and value > spec.max_value):
        raise _Invalid(f"{spec.label_zh}超出允许的范围")
    return value


def _clean_decimal(spec: FieldSpec, raw: Any) -> Decimal:
    if isinstance(raw, bool):
        raise _Invalid(f"{spec.label_zh}须为数字")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise _Invalid(f"{spec.label_zh}须为数字") from None
    if not value.is_finite() or value < 0 or (spec.max_value is not None and value > spec.max_value):
        raise _Invalid(f"{spec.label_zh}应在0至{spec.max_value}之间")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > spec.decimal_places:
        raise _Invalid(f"{spec.label_zh}最多保留{spec.decimal_places}位小数")
    return value


def _check_id_number(id_type: Any, number: str, *, today: date) -> str:
    """A resident ID number by GB 11643 (``validate_resident_id``); other documents by their plain shape."""
    if id_type is IdType.RESIDENT_ID:
        try:
            return validate_resident_id(number, today=today).number
        except InvalidIdNumberError as exc:
            raise _Invalid(exc.message, exc.code) from None
    value = normalize(number)
    if not OTHER_ID.fullmatch(value):
        raise _Invalid("身份证件号只能由字母、数字和连字符组成（4至32位）", "INVALID_ID_NUMBER")
    return value


def _check_identity(
    clean: Mapping[str, Any], merged: Mapping[str, Any], failed: set[str], *, today: date
) -> Iterable[FieldError]:
    """ID type and number agree; a resident ID's birth date and gender match the record's."""
    if not {"idType", "idNumber", "birthDate", "gender"} & clean.keys() or {"idType", "idNumber"} & failed:
        return
    id_type, number = merged.get("idType"), merged.get("idNumber")
    if id_type is IdType.NONE:
        if number is not None:
            yield FieldError("idNumber", "身份证件类型为“无”时不填身份证件号，请清空", "INVALID_ID_NUMBER")
        return
    if id_type is None:
        return
    if number is None:
        yield FieldError("idNumber", f"请填写{ID_TYPES[id_type]}号码", "REQUIRED")
        return
    try:
        normal = _check_id_number(id_type, number, today=today)
    except _Invalid as problem:
        yield FieldError("idNumber", problem.message, problem.code)
        return
    if id_type is not IdType.RESIDENT_ID:
        return
    resident = parse_resident_id(normal)
    birth, gender = merged.get("birthDate"), merged.get("gender")
    if birth is not None and "birthDate" not in failed and birth != resident.birth_date:
        key = "birthDate" if "birthDate" in clean else "idNumber"
        yield FieldError(key, f"出生日期与身份证号码中的出生日期（{resident.birth_date.isoformat()}）不一致")
    if gender is not None and "gender" not in failed and gender != resident.gender:
        key = "gender" if "gender" in clean else "idNumber"
        yield FieldError(key, f"性别与身份证号码不一致（号码第17位表示{GENDERS[resident.gender]}）")


def _check_residence_permit(
    clean: Mapping[str, Any], merged: Mapping[str, Any], failed: set[str]
) -> Iterable[FieldError]:
    """A residence-permit holder's permit has an issuing authority and an issue date (CHG-6)."""
    if not set(RESIDENCE_PERMIT_KEYS) & clean.keys() or merged.get("hasResidencePermit") is not True:
        return
    for key in RESIDENCE_PERMIT_KEYS[1:]:
        if merged.get(key) is None and key not in failed:
            yield FieldError(key, f"持有居住证的，须填写{CATALOGUE[key].label_zh}", "REQUIRED")


def _check_entry_after_birth(
    clean: Mapping[str, Any], merged: Mapping[str, Any], failed: set[str]
) -> Iterable[FieldError]:
    if not {"entryDate", "birthDate"} & clean.keys() or {"entryDate", "birthDate"} & failed:
        return
    entry, birth = merged.get("entryDate"), merged.get("birthDate")
    if entry is not None and birth is not None and entry < birth.replace(day=1):
        yield FieldError("entryDate", "入学年月早于出生日期")


# --- reading and writing a record through the catalogue --------------------------------------------


def record_values(record: Any, specs: Mapping[str, FieldSpec] = CATALOGUE) -> dict[str, Any]:
    """Every catalogue field of a record (or guardian), in the clean form ``validate_fields`` returns."""
    details: Mapping[str, Any] = getattr(record, "details", None) or {}
    values: dict[str, Any] = {}
    for key, spec in specs.items():
        raw = getattr(record, spec.column) if spec.column else details.get(key)
        values[key] = _from_storage(spec, raw)
    return values


def assign_values(record: Any, clean: Mapping[str, Any], specs: Mapping[str, FieldSpec] = CATALOGUE) -> None:
    """Write clean values to a record's columns and ``details`` (a new dict, so the change is tracked)."""
    details = dict(getattr(record, "details", None) or {})
    for key, value in clean.items():
        spec = specs[key]
        if spec.column:
            setattr(record, spec.column, value)
        elif value is None:
            details.pop(key, None)
        else:
            details[key] = json_value(value)
    if hasattr(record, "details"):
        record.details = details


def json_value(value: Any) -> Any:
    """A clean value as JSON (history rows, audit rows, ``details``): ISO dates, decimal strings."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _from_storage(spec: FieldSpec, raw: Any) -> Any:
    if raw is None:
        return None
    if spec.kind is FieldKind.DATE and isinstance(raw, str):
        return date.fromisoformat(raw)
    if spec.kind is FieldKind.DECIMAL:
        return Decimal(str(raw))
    if spec.enum_type is not None and not isinstance(raw, spec.enum_type):
        return spec.enum_type(raw)
    return raw
