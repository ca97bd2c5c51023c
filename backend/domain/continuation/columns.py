"""The columns of continuation lists and of the sheet exported for filling in, with their cell labels.

A list has exactly five columns (REG-8 (1)), six for vocational schools with 学籍号 first (REG-9). The
exported sheet adds a hidden row id, the classification result and the other fields to fill in
(``FILL_IN_FIELDS``: the one place that lists them until the field catalogue takes over).
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.models.enums import Gender, IdType, ImportRowState, Stage

NAME = "姓名"
GENDER = "性别"
BIRTH_DATE = "出生日期"
ID_TYPE = "身份证件类型"
ID_NUMBER = "身份证件号码"
NATIONAL_NUMBER = "学籍号"

IDENTITY_COLUMNS = (NAME, GENDER, BIRTH_DATE, ID_TYPE, ID_NUMBER)  # REG-8 (1)
VOCATIONAL_COLUMNS = (NATIONAL_NUMBER, *IDENTITY_COLUMNS)  # REG-9: 学籍号 optional to fill in

ROW_ID = "系统编号"  # hidden in the exported sheet; ties a sheet row back to its stored row
RESULT = "识别结果"

GENDER_LABELS: dict[str, Gender] = {"男": Gender.MALE, "女": Gender.FEMALE}
GENDER_NAMES: dict[Gender, str] = {Gender.MALE: "男", Gender.FEMALE: "女"}

# The labels people use for each ID type; the first label of a type is the one written into sheets.
ID_TYPE_LABELS: dict[str, IdType] = {
    "居民身份证": IdType.RESIDENT_ID,
    "身份证": IdType.RESIDENT_ID,
    "护照": IdType.PASSPORT,
    "港澳居民来往内地通行证": IdType.HK_MACAO_PERMIT,
    "港澳台居民居住证": IdType.HK_MACAO_PERMIT,
    "港澳台居民居住证/港澳居民来往内地通行证": IdType.HK_MACAO_PERMIT,
    "台湾居民来往大陆通行证": IdType.TAIWAN_PERMIT,
    "无": IdType.NONE,
}
ID_TYPE_NAMES: dict[IdType, str] = {}
for _label, _type in ID_TYPE_LABELS.items():
    ID_TYPE_NAMES.setdefault(_type, _label)
# Offered in the sheets' drop-down lists.
ID_TYPE_CHOICES = (
    "居民身份证",
    "护照",
    "港澳居民来往内地通行证",
    "港澳台居民居住证",
    "台湾居民来往大陆通行证",
    "无",
)

STATE_NAMES: dict[ImportRowState, str] = {
    ImportRowState.MATCHED: "已匹配",
    ImportRowState.TO_CONFIRM: "待确认",
    ImportRowState.NOT_FOUND: "未查到",
    ImportRowState.INVALID: "数据有误",
}


@dataclass(frozen=True)
class FillInField:
    """One of the other fields completed through the exported sheet (REG-8 (3)), stored in row details."""

    key: str
    label: str


# Keys follow the record field catalogue's (camelCase); values are kept as typed, for the catalogue to
# check when the row becomes a record. The guardian columns describe the first guardian.
FILL_IN_FIELDS: tuple[FillInField, ...] = (
    FillInField("ethnicity", "民族"),
    FillInField("nationality", "国籍/地区"),
    FillInField("householdPlace", "户口所在地"),
    FillInField("currentAddress", "现住址"),
    FillInField("phone", "联系电话"),
    FillInField("guardianName", "监护人姓名"),
    FillInField("guardianRelation", "监护人关系"),
    FillInField("guardianPhone", "监护人电话"),
)
FILL_IN_LENGTH = 200

# The stages whose records a list is matched against, by the stage the students enter. Primary entrants
# take over preschool records (REG-8); vocational entrants those of primary and secondary school
# ("已建学籍中小学生", REG-9). Preschool children get no records here (REG-7).
EARLIER_STAGES: dict[Stage, frozenset[Stage]] = {
    Stage.PRIMARY: frozenset({Stage.PRESCHOOL}),
    Stage.JUNIOR: frozenset({Stage.PRESCHOOL, Stage.PRIMARY}),
    Stage.SENIOR: frozenset({Stage.PRESCHOOL, Stage.PRIMARY, Stage.JUNIOR}),
    Stage.VOCATIONAL: frozenset({Stage.PRIMARY, Stage.JUNIOR, Stage.SENIOR}),
}


# Records that already cover the stage entered: the student has a record there or beyond it, so a new
# one would be a second record for one person (NUM-6, REG-7). Other stages are simply not looked at.
CURRENT_STAGES: dict[Stage, frozenset[Stage]] = {
    Stage.PRIMARY: frozenset({Stage.PRIMARY, Stage.JUNIOR, Stage.SENIOR, Stage.VOCATIONAL}),
    Stage.JUNIOR: frozenset({Stage.JUNIOR, Stage.SENIOR, Stage.VOCATIONAL}),
    Stage.SENIOR: frozenset({Stage.SENIOR, Stage.VOCATIONAL}),
    Stage.VOCATIONAL: frozenset({Stage.VOCATIONAL}),
}


def list_columns(target_stage: Stage) -> tuple[str, ...]:
    """The columns of an import list for students entering ``target_stage`` (REG-8, REG-9)."""
    return VOCATIONAL_COLUMNS if target_stage is Stage.VOCATIONAL else IDENTITY_COLUMNS


def sheet_columns(target_stage: Stage) -> tuple[str, ...]:
    """The columns of the exported sheet, in order."""
    return (ROW_ID, *list_columns(target_stage), RESULT, *(f.label for f in FILL_IN_FIELDS))
