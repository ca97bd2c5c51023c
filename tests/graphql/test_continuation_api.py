"""Continuation end to end over HTTP and GraphQL: list, classify, export, fill in, register (REG-8, NUM-6)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from backend.domain.records.id_numbers import make_resident_id
from backend.models import SchoolClass, StudentRecord, Unit
from backend.models.enums import Gender, IdType, NumberKind, RecordStatus, RegistrationState, Stage
from tests.api import PROVINCE_ADMIN, SCHOOL_REGISTRAR, Api
from tests.conftest import DEFAULT_NOW
from tests.domain.continuation.sheets import open_xlsx, save, xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CREATE = """
mutation($a: ID!) {
  createContinuationImport(attachmentId: $a, targetStage: PRIMARY) { errors { code } continuationImport { id counts } }
}
"""
ROWS = "query($i: ID!) { continuationRows(importId: $i) { nodes { id rowNumber state matchedRecordId } } }"
APPLY = """
mutation($i: ID!, $a: ID!) { applyContinuationSheet(importId: $i, attachmentId: $a) { errors { code } updated rowErrors } }
"""
REGISTER = """
mutation($i: ID!, $c: ID!) {
  registerContinuationRows(importId: $i, schoolClassId: $c) {
    errors { code message } registered { rowNumber recordId continued } rowErrors counts
  }
}
"""
OPEN_WINDOW = """
mutation($p: ID!) {
  setProvinceSetting(provinceId: $p, key: "window.primary_new", value: [{from: "11-01", to: "12-31"}]) {
    errors { code }
  }
}
"""
BORN = date(2020, 3, 15)


async def upload(api: Api, token: str, data: bytes, name: str = "新生名单.xlsx") -> str:
    response = await api.client.post(
        "/attachments?purpose=IMPORT",
        files={"file": (name, data, XLSX)},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_a_primary_school_takes_over_its_new_students(api: Api) -> None:
    # RULES: REG-8, REG-2, NUM-6, NUM-3
    zhang_id = make_resident_id("340104", BORN, 11, Gender.MALE)
    async with api.runtime.unit_of_work() as uow:
        school = await uow.session.scalar(select(Unit).where(Unit.code == "2134010401"))
        kindergarten = await uow.session.scalar(select(Unit).where(Unit.code == "2134010402"))
        province = await uow.session.scalar(select(Unit.id).where(Unit.code == "340000"))
        assert school is not None and kindergarten is not None
        preschool = StudentRecord(
            national_number="G" + zhang_id,
            number_kind=NumberKind.G,
            name="张小宝",
            gender=Gender.MALE,
            birth_date=BORN,
            id_type=IdType.RESIDENT_ID,
            id_number=zhang_id,
            school_id=kindergarten.id,
            unit_path=kindergarten.path,
            stage=Stage.PRESCHOOL,
            grade=0,
            status=RecordStatus.IN_SCHOOL,
            registration_state=RegistrationState.REGISTERED,
            details={},
            created_at=DEFAULT_NOW,
            updated_at=DEFAULT_NOW,
        )
        grade1 = SchoolClass(
            school_id=school.id,
            name="一年级(9)班",
            stage=Stage.PRIMARY,
            grade=1,
            entry_year=2026,
            school_system=school.school_system,
            created_at=DEFAULT_NOW,
        )
        uow.session.add_all([preschool, grade1])
        await uow.session.flush()
        preschool_id, class_id = preschool.id, grade1.id
    registrar = await api.login(SCHOOL_REGISTRAR)
    headers = {"authorization": f"Bearer {registrar}"}

    template = await api.client.get("/continuation/template?stage=PRIMARY", headers=headers)
    assert template.status_code == 200
    assert [c.value for c in open_xlsx(template.content)[1]] == [
        "姓名",
        "性别",
        "出生日期",
        "身份证件类型",
        "身份证件号码",
    ]
    listed = xlsx(
        ["张小宝", "男", BORN, "居民身份证", zhang_id],
        ["李小花", "女", BORN, "居民身份证", make_resident_id("340104", BORN, 12, Gender.FEMALE)],
        ["王错误", "男", "2020-02-30", "居民身份证", make_resident_id("340104", BORN, 13, Gender.MALE)],
    )
    created = await api.post(CREATE, {"a": await upload(api, registrar, listed)}, token=registrar)
    imported = created["data"]["createContinuationImport"]["continuationImport"]
    assert imported["counts"]["MATCHED"] == 1
    assert imported["counts"]["NOT_FOUND"] == 1
    assert imported["counts"]["INVALID"] == 1
    mine = await api.post("{ continuationImports { nodes { id } } }", token=registrar)
    assert [n["id"] for n in mine["data"]["continuationImports"]["nodes"]] == [imported["id"]]
    rows = (await api.post(ROWS, {"i": imported["id"]}, token=registrar))["data"]["continuationRows"]["nodes"]
    assert [(r["state"], r["matchedRecordId"]) for r in rows] == [
        ("MATCHED", str(preschool_id)),
        ("NOT_FOUND", None),
        ("INVALID", None),
    ]

    exported = await api.client.get(f"/continuation/{imported['id']}/export", headers=headers)
    assert exported.status_code == 200
    sheet = open_xlsx(exported.content)
    header = [c.value for c in sheet[1]]
    for row in (2, 3):
        sheet.cell(row=row, column=header.index("民族") + 1, value="汉族")
        sheet.cell(row=row, column=header.index("监护人姓名") + 1, value="家长")
        sheet.cell(row=row, column=header.index("监护人关系") + 1, value="母亲")
    applied = await api.post(
        APPLY, {"i": imported["id"], "a": await upload(api, registrar, save(sheet))}, token=registrar
    )
    assert applied["data"]["applyContinuationSheet"]["updated"] == 2

    admin = await api.login(PROVINCE_ADMIN)
    assert (await api.post(OPEN_WINDOW, {"p": str(province)}, token=admin))["data"]["setProvinceSetting"][
        "errors"
    ] == []
    registered = await api.post(REGISTER, {"i": imported["id"], "c": str(class_id)}, token=registrar)

    result = registered["data"]["registerContinuationRows"]
    assert result["errors"] == []
    assert [(r["rowNumber"], r["continued"]) for r in result["registered"]] == [(2, True), (3, False)]
    assert result["registered"][0]["recordId"] == str(preschool_id)  # the same record (NUM-6)
    continued = await api.post(
        "query($id: ID!) { studentRecord(id: $id) { stage grade registrationState registrationKind "
        "numberKind school { name } guardians { name } } }",
        {"id": str(preschool_id)},
        token=registrar,
    )
    assert continued["data"]["studentRecord"] == {
        "stage": "PRIMARY",
        "grade": 1,
        "registrationState": "DRAFT",
        "registrationKind": "CONTINUATION",
        "numberKind": "G",
        "school": {"name": "合肥市蜀山区琥珀小学"},
        "guardians": [{"name": "家长"}],
    }
    downloads = await api.post(
        '{ auditLog(filter: {operation: "continuation.exported"}) { nodes { operation } } }',
        token=await api.login("340104-lead"),
    )
    assert len(downloads["data"]["auditLog"]["nodes"]) == 1  # every export is logged (SEC-4)
