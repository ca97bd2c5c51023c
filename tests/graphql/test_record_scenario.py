"""A registrar's week through GraphQL: register, review, duplicates, a controlled change, the audit trail."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from backend.domain.records.id_numbers import make_resident_id
from backend.models import SchoolClass, StudentRecord, Unit
from backend.models.enums import Gender
from tests.api import COUNTY_LEADER, SCHOOL_REGISTRAR, Api
from tests.domain.attachments.samples import PNG
from tests.domain.records.support import GUARDIANS, student_values

SCHOOL_LEADER = "2134010401-lead"
COUNTY_REGISTRAR = "340104-reg"

REGISTER = """
mutation($i: RegisterStudentInput!) {
  registerStudent(input: $i) {
    errors { code field message }
    record { id nationalNumber numberKind registrationState version }
  }
}
"""
SUBMIT = "mutation($r: ID!) { submitRegistration(recordId: $r) { errors { code field } record { registrationState } } }"
TODO = "{ toDo { nodes { workflow { id kind subjectId version } step { name actingRole } } } }"
ACT = """
mutation($w: ID!, $a: WorkflowActionKind!, $c: String, $v: Int) {
  actOnWorkflow(workflowId: $w, action: $a, comment: $c, expectedVersion: $v) {
    errors { code } workflow { state version }
  }
}
"""
RECORD = (
    "query($id: ID!) { studentRecord(id: $id) { name numberKind registrationState nationalNumber version } }"
)


async def _class_id(api: Api) -> str:
    async with api.runtime.db.read_session() as session:
        school = await session.scalar(select(Unit.id).where(Unit.code == "2134010401"))
        class_id = await session.scalar(
            select(SchoolClass.id).where(SchoolClass.school_id == school, SchoolClass.grade == 3)
        )
    return str(class_id)


async def _approve_pending(api: Api, username: str, subject_id: str) -> dict:
    token = await api.login(username)
    todo = await api.post(TODO, token=token)
    item = next(n for n in todo["data"]["toDo"]["nodes"] if n["workflow"]["subjectId"] == subject_id)
    body = await api.post(
        ACT, {"w": item["workflow"]["id"], "a": "APPROVE", "v": item["workflow"]["version"]}, token=token
    )
    assert body["data"]["actOnWorkflow"]["errors"] == [], body
    return body["data"]["actOnWorkflow"]["workflow"]


async def test_register_review_duplicate_and_change(api: Api) -> None:
    # RULES: REG-1, REG-4, REG-7, NUM-1, NUM-3, CHG-3, SEC-6, SEC-7
    registrar = await api.login(SCHOOL_REGISTRAR)
    class_id = await _class_id(api)
    birth = date(2017, 5, 20)
    values = student_values(
        "李雨涵",
        birth=birth,
        gender=Gender.FEMALE,
        idNumber=make_resident_id("340104", birth, 7, Gender.FEMALE),
    )

    created = await api.post(
        REGISTER,
        {"i": {"kind": "IN_SCHOOL", "classId": class_id, "values": values, "guardians": GUARDIANS}},
        token=registrar,
    )
    record = created["data"]["registerStudent"]["record"]
    assert created["data"]["registerStudent"]["errors"] == []
    assert (record["numberKind"], record["registrationState"]) == ("L", "DRAFT")

    # The same ID number again is refused before anything is created (REG-7).
    again = await api.post(
        REGISTER,
        {"i": {"kind": "IN_SCHOOL", "classId": class_id, "values": values, "guardians": GUARDIANS}},
        token=registrar,
    )
    assert [e["code"] for e in again["data"]["registerStudent"]["errors"]] == ["DUPLICATE_ID_NUMBER"]

    # Bad input: every field error at once, with its field.
    bad = dict(values, birthDate="2017-02-30", ethnicity="99")
    refused = await api.post(
        REGISTER,
        {"i": {"kind": "IN_SCHOOL", "classId": class_id, "values": bad, "guardians": GUARDIANS}},
        token=registrar,
    )
    assert {e["field"] for e in refused["data"]["registerStudent"]["errors"]} >= {"birthDate", "ethnicity"}

    submitted = await api.post(SUBMIT, {"r": record["id"]}, token=registrar)
    assert submitted["data"]["submitRegistration"]["record"]["registrationState"] == "IN_REVIEW"
    assert (await _approve_pending(api, SCHOOL_LEADER, record["id"]))["state"] == "OPEN"
    assert (await _approve_pending(api, COUNTY_REGISTRAR, record["id"]))["state"] == "APPROVED"

    final = (await api.post(RECORD, {"id": record["id"]}, token=registrar))["data"]["studentRecord"]
    assert (final["registrationState"], final["numberKind"]) == ("REGISTERED", "G")

    # Key information now changes only by request, with proof, through both approvals (SEC-6, CHG-3).
    direct = await api.post(
        'mutation($r: ID!, $v: Int!) { updateStudentRecord(recordId: $r, values: {name: "李雨菡"}, '
        "expectedVersion: $v) { errors { code } needsApproval applied } }",
        {"r": record["id"], "v": final["version"]},
        token=registrar,
    )
    assert direct["data"]["updateStudentRecord"]["needsApproval"] == {"name": "李雨菡"}
    upload = await api.client.post(
        "/attachments?purpose=PROOF",
        files={"file": ("户口簿.png", PNG, "image/png")},
        headers={"authorization": f"Bearer {registrar}"},
    )
    proof_id = upload.json()["id"]
    asked = await api.post(
        'mutation($r: ID!, $a: ID!) { requestRecordChange(recordId: $r, values: {name: "李雨菡"}, '
        'reason: "户口簿更正", proofIds: [$a]) { errors { code field } changeRequestId } }',
        {"r": record["id"], "a": proof_id},
        token=registrar,
    )
    change_id = asked["data"]["requestRecordChange"]["changeRequestId"]
    assert change_id
    await _approve_pending(api, SCHOOL_LEADER, change_id)
    await _approve_pending(api, COUNTY_REGISTRAR, change_id)
    changed = (await api.post(RECORD, {"id": record["id"]}, token=registrar))["data"]["studentRecord"]
    assert changed["name"] == "李雨菡"
    history = await api.post(
        "query($id: ID!) { studentRecord(id: $id) { history { kind changes proofIds } } }",
        {"id": record["id"]},
        token=registrar,
    )
    entries = history["data"]["studentRecord"]["history"]
    approved = [e for e in entries if e["kind"] == "CHANGE_APPROVED"]
    assert approved[0]["changes"] == {"name": ["李雨涵", "李雨菡"]}
    assert approved[0]["proofIds"] == [proof_id]

    # The county leader sees every step in the audit log (SEC-7).
    leader = await api.login(COUNTY_LEADER)
    log = await api.post("{ auditLog(first: 100) { nodes { operation targetType } } }", token=leader)
    operations = [n["operation"] for n in log["data"]["auditLog"]["nodes"]]
    for expected in (
        "record.created",
        "record.submitted",
        "workflow.started",
        "workflow.approved",
        "record.registered",
        "change_request.created",
        "change_request.applied",
    ):
        assert expected in operations, expected
    async with api.runtime.db.read_session() as session:
        names = (
            await session.scalars(select(StudentRecord.name).where(StudentRecord.id == int(record["id"])))
        ).all()
    assert names == ["李雨菡"]
