"""A suspension and the resumption after it, through GraphQL: asked by the school, reviewed on actOnWorkflow."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from backend.models import StudentRecord, Unit
from backend.models.enums import RecordStatus, RegistrationState, StatusChangeType
from tests.api import PROVINCE_ADMIN, SCHOOL_REGISTRAR, Api
from tests.domain.attachments.samples import PNG

SCHOOL_LEADER = "2134010401-lead"
COUNTY_REGISTRAR = "340104-reg"

REQUEST = """
mutation($r: ID!, $t: StatusChangeType!, $reason: String!, $p: [ID!]!, $d: JSON) {
  requestStatusChange(recordId: $r, changeType: $t, reason: $reason, proofIds: $p, details: $d) {
    errors { code field message }
    statusChange {
      id changeType state fromStatus toStatus fromGrade toGrade details proofIds workflowId decidedAt
      record { id status }
    }
  }
}
"""
TODO = "{ toDo { nodes { workflow { id kind subjectType subjectId version } step { name actingRole } } } }"
ACT = """
mutation($w: ID!, $a: WorkflowActionKind!, $v: Int) {
  actOnWorkflow(workflowId: $w, action: $a, expectedVersion: $v) { errors { code } workflow { state } }
}
"""
ONE = "query($id: ID!) { statusChange(id: $id) { state decidedAt record { status } } }"
LIST = """
query($r: ID) { statusChanges(recordId: $r) { nodes { id changeType state } } }
"""
HISTORY = "query($id: ID!) { studentRecord(id: $id) { status history { kind changes proofIds reason } } }"
SET_SETTING = """
mutation($p: ID!, $v: JSON) {
  setProvinceSetting(provinceId: $p, key: "status_change.department_review", value: $v) { errors { code } }
}
"""


async def _facts(api: Api) -> tuple[str, str]:
    """A registered in-school student of 琥珀小学, and the province's id."""
    async with api.runtime.db.read_session() as session:
        school = await session.scalar(select(Unit.id).where(Unit.code == "2134010401"))
        province = await session.scalar(select(Unit.id).where(Unit.code == "340000"))
        record = await session.scalar(
            select(StudentRecord.id)
            .where(
                StudentRecord.school_id == school,
                StudentRecord.status == RecordStatus.IN_SCHOOL,
                StudentRecord.registration_state == RegistrationState.REGISTERED,
            )
            .order_by(StudentRecord.id)
            .limit(1)
        )
    assert record is not None and province is not None
    return str(record), str(province)


async def _proof(api: Api, token: str) -> str:
    upload = await api.client.post(
        "/attachments?purpose=PROOF",
        files={"file": ("病历.png", PNG, "image/png")},
        headers={"authorization": f"Bearer {token}"},
    )
    assert upload.status_code == 201, upload.text
    return str(upload.json()["id"])


async def _approve(api: Api, username: str, workflow_id: str) -> dict[str, Any]:
    token = await api.login(username)
    todo = await api.post(TODO, token=token)
    item = next(n for n in todo["data"]["toDo"]["nodes"] if n["workflow"]["id"] == workflow_id)
    assert item["workflow"]["kind"] == "status_change"
    body = await api.post(
        ACT, {"w": workflow_id, "a": "APPROVE", "v": item["workflow"]["version"]}, token=token
    )
    assert body["data"]["actOnWorkflow"]["errors"] == [], body
    return body["data"]["actOnWorkflow"]["workflow"]


async def test_suspension_then_resumption(api: Api) -> None:  # RULES: STA-1, STA-2, STA-3, SEC-7
    record_id, province_id = await _facts(api)
    # Given a province that has the county review suspensions too (CFG-2), but not resumptions.
    admin = await api.login(PROVINCE_ADMIN)
    reviewed = [str(t) for t in StatusChangeType if t is not StatusChangeType.RESUMPTION]
    configured = await api.post(SET_SETTING, {"p": province_id, "v": reviewed}, token=admin)
    assert configured["data"]["setProvinceSetting"]["errors"] == []
    registrar = await api.login(SCHOOL_REGISTRAR)
    proof_id = await _proof(api, registrar)

    # When the school's registrar asks without proof, then with it.
    variables = {
        "r": record_id,
        "t": "SUSPENSION",
        "reason": "因病休学一年",
        "d": {"expectedReturn": "2027-09-01"},
    }
    refused = await api.post(REQUEST, {**variables, "p": []}, token=registrar)
    assert refused["data"]["requestStatusChange"] == {
        "errors": [{"code": "PROOF_REQUIRED", "field": "proofIds", "message": "办理学籍异动须上传证明材料"}],
        "statusChange": None,
    }
    asked = await api.post(REQUEST, {**variables, "p": [proof_id]}, token=registrar)
    payload = asked["data"]["requestStatusChange"]
    assert payload["errors"] == []
    change = payload["statusChange"]
    assert (change["changeType"], change["state"], change["fromStatus"], change["toStatus"]) == (
        "SUSPENSION",
        "IN_REVIEW",
        "IN_SCHOOL",
        "SUSPENDED",
    )
    assert change["details"] == {"expectedReturn": "2027-09-01"}
    assert change["proofIds"] == [proof_id]
    assert change["record"] == {"id": record_id, "status": "IN_SCHOOL"}

    # Then the school's leader approves: not yet in effect (STA-2) …
    assert (await _approve(api, SCHOOL_LEADER, change["workflowId"]))["state"] == "OPEN"
    pending = await api.post(ONE, {"id": change["id"]}, token=registrar)
    assert pending["data"]["statusChange"] == {
        "state": "IN_REVIEW",
        "decidedAt": None,
        "record": {"status": "IN_SCHOOL"},
    }
    # … and the county's approval makes it take effect.
    assert (await _approve(api, COUNTY_REGISTRAR, change["workflowId"]))["state"] == "APPROVED"
    done = await api.post(ONE, {"id": change["id"]}, token=registrar)
    assert done["data"]["statusChange"]["state"] == "COMPLETED"
    assert done["data"]["statusChange"]["record"] == {"status": "SUSPENDED"}

    # The resumption goes back to school after the leader alone.
    back = await api.post(
        REQUEST,
        {"r": record_id, "t": "RESUMPTION", "reason": "病愈复学", "p": [proof_id], "d": None},
        token=registrar,
    )
    resumption = back["data"]["requestStatusChange"]["statusChange"]
    assert back["data"]["requestStatusChange"]["errors"] == []
    assert (await _approve(api, SCHOOL_LEADER, resumption["workflowId"]))["state"] == "APPROVED"

    shown = await api.post(HISTORY, {"id": record_id}, token=registrar)
    record = shown["data"]["studentRecord"]
    assert record["status"] == "IN_SCHOOL"
    changed = [h for h in record["history"] if h["kind"] == "STATUS_CHANGED"]
    assert [h["changes"]["status"] for h in changed] == [
        ["IN_SCHOOL", "SUSPENDED"],
        ["SUSPENDED", "IN_SCHOOL"],
    ]
    assert [h["proofIds"] for h in changed] == [[proof_id], [proof_id]]
    listed = await api.post(LIST, {"r": record_id}, token=await api.login(COUNTY_REGISTRAR))
    assert [(n["changeType"], n["state"]) for n in listed["data"]["statusChanges"]["nodes"]] == [
        ("RESUMPTION", "COMPLETED"),
        ("SUSPENSION", "COMPLETED"),
    ]


async def test_details_must_be_an_object(api: Api) -> None:  # RULES: STA-1
    record_id, _ = await _facts(api)
    registrar = await api.login(SCHOOL_REGISTRAR)
    proof_id = await _proof(api, registrar)

    body = await api.post(
        REQUEST,
        {"r": record_id, "t": "STUDY_ABROAD", "reason": "随父母出国", "p": [proof_id], "d": ["加拿大"]},
        token=registrar,
    )

    errors = body["data"]["requestStatusChange"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", "details")]
