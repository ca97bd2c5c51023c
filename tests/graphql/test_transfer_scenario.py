"""A cross-province transfer through GraphQL: lookup, request, four reviews, file retrieval, the record moves.

The demo province is Anhui (340000); the test adds a school of a second province (江苏, 320000) with its
leader and its county's registrar, and one of that school's students, who transfers into 合肥市蜀山区琥珀小学.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from backend.domain.records.id_numbers import make_resident_id
from backend.domain.records.national_numbers import g_number
from backend.models import SchoolClass, StudentRecord, Unit
from backend.models.enums import Gender, IdType, RecordStatus, Role, SchoolSystem, Stage, UnitKind
from tests.api import SCHOOL_REGISTRAR, Api
from tests.domain.attachments.samples import PNG
from tests.domain.factories import PASSWORD, make_unit, make_user

SCHOOL_LEADER = "2134010401-lead"
COUNTY_REGISTRAR = "340104-reg"
SENDING_LEADER = "js-3201020001-lead"
SENDING_COUNTY = "js-320102-reg"

LOOKUP = """
query($n: String!, $name: String!) {
  studentForTransfer(nationalNumber: $n, name: $name) {
    maskedName schoolName departmentName provinceName crossProvince grade status
    refusal { code }
  }
}
"""
START = """
mutation($i: StartTransferInput!, $k: String) {
  startTransfer(input: $i, idempotencyKey: $k) {
    errors { code field message }
    replayed
    transfer { id state crossProvince workflowId pendingStep warnings { code } }
  }
}
"""
TODO = "{ toDo { nodes { workflow { id kind subjectType subjectId version } step { name actingRole } } } }"
ACT = """
mutation($w: ID!, $v: Int) {
  actOnWorkflow(workflowId: $w, action: APPROVE, expectedVersion: $v) { errors { code } workflow { state } }
}
"""
TRANSFER = """
query($id: ID!) {
  transfer(id: $id) {
    state pendingStep retrievalDueOn approvedAt recordId
    receivingSchool { name } sendingSchool { name } targetClass { grade }
    student { name nationalNumber status }
  }
}
"""
RETRIEVE = """
mutation($t: ID!, $r: Boolean!) {
  retrieveTransferFile(transferId: $t, reported: $r) { errors { code field } transfer { state completedAt } }
}
"""
RECORD = (
    "query($id: ID!) { studentRecord(id: $id) { name status grade school { name } history { kind } "
    "businesses { kind state } } }"
)


async def _second_province(api: Api) -> tuple[StudentRecord, str]:
    """江苏省 > 南京市 > 玄武区 > 一所小学, its leader and county registrar, and a grade-3 pupil there."""
    async with api.runtime.unit_of_work() as uow:
        ministry = await uow.session.scalar(select(Unit).where(Unit.code == "000000"))
        assert ministry is not None
        province = await make_unit(uow, UnitKind.PROVINCE, "320000", ministry, name="江苏省")
        city = await make_unit(uow, UnitKind.CITY, "320100", province, name="南京市")
        county = await make_unit(uow, UnitKind.COUNTY, "320102", city, name="玄武区")
        school = await make_unit(uow, UnitKind.SCHOOL, "3201020001", county, name="南京市玄武区第一小学")
        await make_user(uow, school, SENDING_LEADER, (Role.LEADER,))
        await make_user(uow, county, SENDING_COUNTY, (Role.REGISTRAR,))
        grade3 = SchoolClass(
            school_id=school.id,
            name="三年级(1)班",
            stage=Stage.PRIMARY,
            grade=3,
            entry_year=2024,
            school_system=SchoolSystem.SIX_THREE,
            created_at=uow.clock.now(),
        )
        uow.session.add(grade3)
        await uow.session.flush()
        birth = date(2018, 4, 2)
        id_number = make_resident_id("320102", birth, 3, Gender.FEMALE)
        record = StudentRecord(
            national_number=g_number(id_number),
            name="周子涵",
            gender=Gender.FEMALE,
            birth_date=birth,
            id_type=IdType.RESIDENT_ID,
            id_number=id_number,
            school_id=school.id,
            unit_path=school.path,
            class_id=grade3.id,
            stage=Stage.PRIMARY,
            grade=3,
            status=RecordStatus.IN_SCHOOL,
            details={},
            version=1,
            created_at=uow.clock.now(),
            updated_at=uow.clock.now(),
        )
        uow.session.add(record)
        await uow.session.flush()
        amber = await uow.session.scalar(select(Unit.id).where(Unit.code == "2134010401"))
        class_id = await uow.session.scalar(
            select(SchoolClass.id).where(SchoolClass.school_id == amber, SchoolClass.grade == 3)
        )
    return record, str(class_id)


async def _approve(api: Api, username: str, transfer_id: str, *, password: str | None = None) -> str:
    token = await (api.login(username, password) if password else api.login(username))
    todo = await api.post(TODO, token=token)
    item = next(
        node
        for node in todo["data"]["toDo"]["nodes"]
        if node["workflow"]["subjectType"] == "transfer" and node["workflow"]["subjectId"] == transfer_id
    )
    assert item["workflow"]["kind"] == "transfer"
    body = await api.post(ACT, {"w": item["workflow"]["id"], "v": item["workflow"]["version"]}, token=token)
    assert body["data"]["actOnWorkflow"]["errors"] == [], body
    return str(body["data"]["actOnWorkflow"]["workflow"]["state"])


async def test_a_cross_province_transfer_end_to_end(api: Api) -> None:
    # RULES: TRF-1, TRF-2, TRF-3, TRF-6, SEC-4, SEC-7
    record, class_id = await _second_province(api)
    registrar = await api.login(SCHOOL_REGISTRAR)

    # Given: the receiving registrar finds the student by number and name, masked.
    found = (await api.post(LOOKUP, {"n": record.national_number, "name": "周子涵"}, token=registrar))["data"]
    assert found["studentForTransfer"] == {
        "maskedName": "周*涵",
        "schoolName": "南京市玄武区第一小学",
        "departmentName": "玄武区",
        "provinceName": "江苏省",
        "crossProvince": True,
        "grade": 3,
        "status": "IN_SCHOOL",
        "refusal": None,
    }
    nobody = await api.post(LOOKUP, {"n": record.national_number, "name": "周子豪"}, token=registrar)
    assert nobody["data"]["studentForTransfer"] is None

    # When: it asks, with the stamped application (TRF-1); a wrong number is refused first.
    upload = await api.client.post(
        "/attachments?purpose=PROOF",
        files={"file": ("转学申请.png", PNG, "image/png")},
        headers={"authorization": f"Bearer {registrar}"},
    )
    application = upload.json()["id"]
    request = {
        "nationalNumber": record.national_number,
        "name": "周子涵",
        "targetClassId": class_id,
        "reason": "随父母工作调动来合肥",
        "applicationIds": [application],
    }
    wrong = await api.post(START, {"i": {**request, "name": "周子豪"}}, token=registrar)
    assert [(e["code"], e["field"]) for e in wrong["data"]["startTransfer"]["errors"]] == [
        ("STUDENT_NOT_FOUND", "nationalNumber")
    ]
    started = (await api.post(START, {"i": request, "k": "trf-1"}, token=registrar))["data"]["startTransfer"]
    assert started["errors"] == []
    transfer = started["transfer"]
    assert (transfer["state"], transfer["crossProvince"], transfer["pendingStep"]) == (
        "IN_REVIEW",
        True,
        "转入学校审核",
    )
    retried = (await api.post(START, {"i": request, "k": "trf-1"}, token=registrar))["data"]["startTransfer"]
    assert (retried["replayed"], retried["transfer"]["id"]) == (True, transfer["id"])

    # Then: four parties approve in order from their to-do lists (TRF-1) ...
    assert await _approve(api, SCHOOL_LEADER, transfer["id"]) == "OPEN"
    assert await _approve(api, COUNTY_REGISTRAR, transfer["id"]) == "OPEN"
    assert await _approve(api, SENDING_LEADER, transfer["id"], password=PASSWORD) == "OPEN"
    assert await _approve(api, SENDING_COUNTY, transfer["id"], password=PASSWORD) == "OPEN"

    # ... and the receiving school retrieves the file within 10 working days (TRF-2, TRF-3).
    waiting = (await api.post(TRANSFER, {"id": transfer["id"]}, token=registrar))["data"]["transfer"]
    assert (waiting["state"], waiting["pendingStep"], waiting["retrievalDueOn"]) == (
        "AWAITING_RETRIEVAL",
        "调档",
        "2026-12-09",
    )
    assert waiting["receivingSchool"]["name"] == "合肥市蜀山区琥珀小学"
    assert waiting["sendingSchool"]["name"] == "南京市玄武区第一小学"
    assert waiting["student"]["status"] == "IN_SCHOOL"
    not_reported = await api.post(RETRIEVE, {"t": transfer["id"], "r": False}, token=registrar)
    assert [(e["code"], e["field"]) for e in not_reported["data"]["retrieveTransferFile"]["errors"]] == [
        ("STUDENT_NOT_REPORTED", "reported")
    ]
    retrieved = (await api.post(RETRIEVE, {"t": transfer["id"], "r": True}, token=registrar))["data"]
    assert retrieved["retrieveTransferFile"]["errors"] == []
    assert retrieved["retrieveTransferFile"]["transfer"]["state"] == "COMPLETED"

    # The record is now the receiving school's, with its history (SEC-7).
    moved = (await api.post(RECORD, {"id": waiting["recordId"]}, token=registrar))["data"]["studentRecord"]
    assert moved["school"]["name"] == "合肥市蜀山区琥珀小学"
    assert (moved["status"], moved["grade"]) == ("IN_SCHOOL", 3)
    assert moved["history"][-1]["kind"] == "TRANSFERRED"
    assert {"kind": "transfer", "state": "APPROVED"} in moved["businesses"]  # the student's businesses
    # The sending county no longer sees the record, but still sees the completed business.
    county = await api.login(SENDING_COUNTY, PASSWORD)
    gone = await api.post(RECORD, {"id": waiting["recordId"]}, token=county)
    assert gone["data"]["studentRecord"] is None
    ended = await api.post(TRANSFER, {"id": transfer["id"]}, token=county)
    assert ended["data"]["transfer"]["state"] == "COMPLETED"
