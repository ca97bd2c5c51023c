"""The records issue's done-when scenario, through HTTP and GraphQL only, on the demo province.

A school registrar downloads the in-school registration template, fills in 30 students plus three planted
duplicates and uploads the list: the row repeating an ID number in the file is refused; the student whose
ID number already has a record at a school of another county is registered and flagged type 2; the one
without an ID who matches an existing record's name, gender and birth date is flagged type 3. Both
schools support their type-2 records with evidence, both counties confirm their own, so the city — the
common superior — arbitrates and keeps one. The school and the county review the 30 registrations (G
numbers), one student's name is corrected through a change request with both approvals, and the county
leader finds every step in the audit log.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from backend.domain.records.fields import CATALOGUE, GUARDIAN_CATALOGUE
from backend.domain.records.id_numbers import make_resident_id, mask_id_number
from backend.models import SchoolClass, StudentRecord, Unit
from backend.models.enums import Gender, IdType, RegistrationState
from tests.api import COUNTY_LEADER, SCHOOL_REGISTRAR, Api
from tests.domain.attachments.samples import PNG
from tests.domain.records.support import student_values

SCHOOL_LEADER = "2134010401-lead"
COUNTY_REGISTRAR = "340104-reg"  # 蜀山区, above our school
OTHER_SCHOOL = "2134010201"  # 瑶海区第一小学: another county of the same city
OTHER_REGISTRAR = "2134010201-reg"
OTHER_COUNTY_REGISTRAR = "340102-reg"
CITY_REGISTRAR = "340100-reg"  # 合肥市: the common superior of both counties (ORG-4)
CITY_LEADER = "340100-lead"
NEIGHBOUR_REGISTRAR = "2134010402-reg"  # same county

IMPORT = """
mutation($a: ID!) {
  importRegistrationList(attachmentId: $a) { errors { code field message } rows recordIds problems rowErrors }
}
"""
PROBLEMS = """
query($t: ProblemType) {
  problemRecords(problemType: $t, first: 50) { nodes { id state problemType record { id name } } }
}
"""
EVIDENCE = """
mutation($p: ID!, $a: [ID!]!) {
  submitProblemEvidence(problemId: $p, attachmentIds: $a, note: "户籍证明：本校在读") {
    errors { code message } problems { state }
  }
}
"""
REVIEW = """
mutation($p: ID!) { reviewProblemEvidence(problemId: $p, accept: true) { errors { code } problems { state } } }
"""
ARBITRATE = """
mutation($p: ID!, $k: ID!) {
  arbitrateProblem(problemId: $p, keepRecordId: $k, comment: "学生实际在原校就读") {
    errors { code message } problems { state resolution record { id } }
  }
}
"""
TODO = "{ toDo(first: 100) { nodes { workflow { id subjectId version kind } } } }"
ACT = """
mutation($w: ID!, $v: Int) {
  actOnWorkflow(workflowId: $w, action: APPROVE, expectedVersion: $v) { errors { code } workflow { state } }
}
"""
RECORD = (
    "query($id: ID!) { studentRecord(id: $id) { name numberKind nationalNumber registrationState version } }"
)


AUDIT = """
query($after: String) {
  auditLog(first: 100, after: $after) { nodes { operation } pageInfo { hasNextPage endCursor } }
}
"""


async def audit_operations(api: Api, token: str) -> list[str]:
    """Every operation in the caller's audit log, page by page."""
    operations: list[str] = []
    after = None
    while True:
        page = (await api.post(AUDIT, {"after": after}, token=token))["data"]["auditLog"]
        operations += [node["operation"] for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return operations
        after = page["pageInfo"]["endCursor"]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def upload(api: Api, token: str, purpose: str, name: str, data: bytes, kind: str) -> str:
    response = await api.client.post(
        f"/attachments?purpose={purpose}", files={"file": (name, data, kind)}, headers=bearer(token)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def sheet_row(header: list[str], class_name: str, values: dict[str, Any]) -> list[Any]:
    """A row as a registrar types it: Chinese names for codes, 是/否 for yes and no."""
    labels: dict[str, Any] = {"班级": class_name}
    for key, value in values.items():
        spec = CATALOGUE[key]
        if spec.choices and value in spec.choices:
            value = spec.choices[value]
        if isinstance(value, bool):
            value = "是" if value else "否"
        labels[spec.label_zh] = value
    guardian = {"name": f"{values['name']}家长", "relation": "父亲", "phone": "13912345678"}
    for key, value in guardian.items():
        labels["监护人" + GUARDIAN_CATALOGUE[key].label_zh] = value
    return [labels.get(label) for label in header]


async def school_facts(api: Api) -> tuple[str, str, dict[str, Any]]:
    """Our grade-3 class's name, and an existing student of the other county's school."""
    async with api.runtime.db.read_session() as session:
        school = await session.scalar(select(Unit.id).where(Unit.code == "2134010401"))
        class_name = await session.scalar(
            select(SchoolClass.name).where(SchoolClass.school_id == school, SchoolClass.grade == 3).limit(1)
        )
        other = await session.scalar(select(Unit.id).where(Unit.code == OTHER_SCHOOL))
        existing = await session.scalar(
            select(StudentRecord)
            .where(
                StudentRecord.school_id == other,
                StudentRecord.id_type == IdType.RESIDENT_ID,
                StudentRecord.registration_state == RegistrationState.REGISTERED,
            )
            .order_by(StudentRecord.id)
            .limit(1)
        )
        assert class_name is not None
        assert existing is not None
        facts = {
            "id": str(existing.id),
            "name": existing.name,
            "gender": existing.gender,
            "birth": existing.birth_date,
            "idNumber": existing.id_number,
        }
    return str(class_name), str(school), facts


async def test_thirty_students_from_an_excel_list_with_planted_duplicates(api: Api) -> None:
    # RULES: REG-1, REG-4, REG-7, PRB-2, PRB-3, ORG-4, NUM-1, CHG-3, SEC-6, SEC-7
    registrar = await api.login(SCHOOL_REGISTRAR)
    class_name, _, existing = await school_facts(api)

    # An ID-less student already registered at the neighbouring school (same county).
    neighbour = await api.login(NEIGHBOUR_REGISTRAR)
    async with api.runtime.db.read_session() as session:
        neighbour_school = await session.scalar(select(Unit.id).where(Unit.code == "2134010402"))
        neighbour_class = await session.scalar(
            select(SchoolClass.id).where(SchoolClass.school_id == neighbour_school, SchoolClass.grade == 3)
        )
    no_id_birth = date(2017, 6, 1)
    no_id = student_values("王无证", birth=no_id_birth, gender=Gender.MALE, id_type=IdType.NONE)
    created = await api.post(
        "mutation($i: RegisterStudentInput!) { registerStudent(input: $i) { errors { code } record { id } } }",
        {
            "i": {
                "kind": "IN_SCHOOL",
                "classId": str(neighbour_class),
                "values": no_id,
                "guardians": [{"name": "王父", "relation": "父亲"}],
            }
        },
        token=neighbour,
    )
    assert created["data"]["registerStudent"]["errors"] == []

    # The template, filled in.
    template = await api.client.get("/registration/template", headers=bearer(registrar))
    assert template.status_code == 200
    header = [cell.value for cell in load_workbook(io.BytesIO(template.content)).worksheets[0][1]]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    students = []
    for n in range(30):
        birth = date(2017, 1 + n % 12, 1 + n)
        gender = Gender.FEMALE if n % 2 else Gender.MALE
        values = student_values(
            f"学生{n:02d}",
            birth=birth,
            gender=gender,
            idNumber=make_resident_id("340104", birth, 100 + n, gender),
        )
        students.append(values)
        sheet.append(sheet_row(header, class_name, values))
    planted_with_id = student_values(
        existing["name"], birth=existing["birth"], gender=existing["gender"], idNumber=existing["idNumber"]
    )
    sheet.append(sheet_row(header, class_name, planted_with_id))  # row 32: a record in another county
    sheet.append(sheet_row(header, class_name, no_id))  # row 33: same person, no ID
    sheet.append(sheet_row(header, class_name, dict(students[4], name="学生04甲")))  # row 34: ID repeated
    buffer = io.BytesIO()
    book.save(buffer)
    attachment = await upload(
        api,
        registrar,
        "IMPORT",
        "在校生名单.xlsx",
        buffer.getvalue(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )

    imported = (await api.post(IMPORT, {"a": attachment}, token=registrar))["data"]["importRegistrationList"]

    assert imported["errors"] == []
    assert imported["rows"] == 33
    assert [(e["row"], e["column"], e["code"]) for e in imported["rowErrors"]] == [
        (34, "身份证件号", "DUPLICATE_IN_FILE")
    ]
    assert imported["problems"] == {"DUPLICATE_WITH_ID": 1, "DUPLICATE_WITHOUT_ID": 1}
    record_ids = imported["recordIds"]
    assert len(record_ids) == 32
    ours_with_id, ours_without_id = record_ids[30], record_ids[31]

    # Type 3 (PRB-3): our county sees both records of the group.
    county = await api.login(COUNTY_REGISTRAR)
    type3 = (await api.post(PROBLEMS, {"t": "DUPLICATE_WITHOUT_ID"}, token=county))["data"]["problemRecords"]
    assert {n["record"]["name"] for n in type3["nodes"]} == {"王无证"}
    assert len(type3["nodes"]) == 2
    assert ours_without_id in {n["record"]["id"] for n in type3["nodes"]}

    # Type 2 (PRB-2): each side supports its own record, each county confirms its own side.
    type2 = (await api.post(PROBLEMS, {"t": "DUPLICATE_WITH_ID"}, token=county))["data"]["problemRecords"]
    (ours,) = type2["nodes"]
    assert ours["record"]["id"] == ours_with_id
    proof = await upload(api, registrar, "PROOF", "户籍证明.png", PNG, "image/png")
    submitted = await api.post(EVIDENCE, {"p": ours["id"], "a": [proof]}, token=registrar)
    assert submitted["data"]["submitProblemEvidence"]["errors"] == []
    reviewed = await api.post(REVIEW, {"p": ours["id"]}, token=county)
    assert reviewed["data"]["reviewProblemEvidence"]["problems"][0]["state"] == "CONFIRMED"

    other_registrar = await api.login(OTHER_REGISTRAR)
    other_county = await api.login(OTHER_COUNTY_REGISTRAR)
    theirs = (await api.post(PROBLEMS, {"t": "DUPLICATE_WITH_ID"}, token=other_county))["data"][
        "problemRecords"
    ]
    (their,) = theirs["nodes"]
    assert their["record"]["id"] == existing["id"]
    their_proof = await upload(api, other_registrar, "PROOF", "学籍卡.png", PNG, "image/png")
    assert (await api.post(EVIDENCE, {"p": their["id"], "a": [their_proof]}, token=other_registrar))["data"][
        "submitProblemEvidence"
    ]["errors"] == []
    both = await api.post(REVIEW, {"p": their["id"]}, token=other_county)
    assert both["data"]["reviewProblemEvidence"]["errors"] == []

    # Neither county may arbitrate; the city, their common superior, does (ORG-4).
    refused = await api.post(ARBITRATE, {"p": ours["id"], "k": existing["id"]}, token=county)
    assert refused["data"]["arbitrateProblem"]["errors"][0]["code"] == "FORBIDDEN"
    city = await api.login(CITY_REGISTRAR)
    decided = await api.post(ARBITRATE, {"p": ours["id"], "k": existing["id"]}, token=city)
    members = {m["record"]["id"]: m for m in decided["data"]["arbitrateProblem"]["problems"]}
    assert decided["data"]["arbitrateProblem"]["errors"] == []
    assert (members[existing["id"]]["state"], members[existing["id"]]["resolution"]) == (
        "RESOLVED",
        "KEPT_BY_ARBITRATION",
    )
    assert (members[ours_with_id]["state"], members[ours_with_id]["resolution"]) == ("OPEN", "NOT_KEPT")
    # Our school deletes its record, as the arbitration asks; the group is closed.
    deleted = await api.post(
        'mutation($r: ID!) { deleteStudentRecord(recordId: $r, reason: "仲裁未保留") { errors { code } } }',
        {"r": ours_with_id},
        token=registrar,
    )
    assert deleted["data"]["deleteStudentRecord"]["errors"] == []
    open_type2 = (await api.post(PROBLEMS, {"t": "DUPLICATE_WITH_ID"}, token=city))["data"]["problemRecords"]
    assert open_type2["nodes"] == []

    # The 30 go through review: submitted together (aliases), approved by the leader, then the county.
    thirty = record_ids[:30]
    submit = (
        "mutation {"
        + " ".join(
            f'r{i}: submitRegistration(recordId: "{r}") {{ errors {{ code }} }}' for i, r in enumerate(thirty)
        )
        + "}"
    )
    submitted_all = (await api.post(submit, token=registrar))["data"]
    assert all(result["errors"] == [] for result in submitted_all.values())
    for approver in (SCHOOL_LEADER, COUNTY_REGISTRAR):
        token = await api.login(approver)
        todo = (await api.post(TODO, token=token))["data"]["toDo"]["nodes"]
        pending = [n["workflow"] for n in todo if n["workflow"]["subjectId"] in thirty]
        assert len(pending) == 30
        for workflow in pending:
            acted = await api.post(ACT, {"w": workflow["id"], "v": workflow["version"]}, token=token)
            assert acted["data"]["actOnWorkflow"]["errors"] == []
    first = (await api.post(RECORD, {"id": thirty[0]}, token=registrar))["data"]["studentRecord"]
    assert (first["registrationState"], first["numberKind"]) == ("REGISTERED", "G")
    # A G number spells the ID number, so it is masked like one (SEC-4).
    assert first["nationalNumber"] == "G" + mask_id_number(students[0]["idNumber"])

    numbers = await api.post(
        "query($id: ID!) { studentRecord(id: $id) { numberHistory { kind validUntil reason } } }",
        {"id": thirty[0]},
        token=registrar,
    )
    held = numbers["data"]["studentRecord"]["numberHistory"]
    assert [(n["kind"], n["validUntil"] is None) for n in held] == [("L", False), ("G", True)]  # NUM-3, NUM-1
    flagged = await api.post(
        "query($id: ID!) { studentRecord(id: $id) { problems { problemType state } } }",
        {"id": ours_without_id},
        token=registrar,
    )
    assert flagged["data"]["studentRecord"]["problems"] == [
        {"problemType": "DUPLICATE_WITHOUT_ID", "state": "OPEN"}
    ]

    businesses = await api.post(
        "query($id: ID!) { studentRecord(id: $id) { businesses { kind state } } }",
        {"id": thirty[0]},
        token=registrar,
    )
    assert businesses["data"]["studentRecord"]["businesses"] == [
        {"kind": "registration_review", "state": "APPROVED"}
    ]

    # A controlled change (key information, SEC-6) with household-registry proof through both approvals.
    asked = await api.post(
        'mutation($r: ID!, $a: ID!) { requestRecordChange(recordId: $r, values: {name: "学生零零"}, '
        'reason: "户口簿姓名更正", proofIds: [$a]) { errors { code field } changeRequestId } }',
        {"r": thirty[0], "a": await upload(api, registrar, "PROOF", "户口簿.png", PNG, "image/png")},
        token=registrar,
    )
    change_id = asked["data"]["requestRecordChange"]["changeRequestId"]
    assert change_id
    for approver in (SCHOOL_LEADER, COUNTY_REGISTRAR):
        token = await api.login(approver)
        todo = (await api.post(TODO, token=token))["data"]["toDo"]["nodes"]
        (workflow,) = [n["workflow"] for n in todo if n["workflow"]["subjectId"] == change_id]
        acted = await api.post(ACT, {"w": workflow["id"], "v": workflow["version"]}, token=token)
        assert acted["data"]["actOnWorkflow"]["errors"] == []
    changed = (await api.post(RECORD, {"id": thirty[0]}, token=registrar))["data"]["studentRecord"]
    assert changed["name"] == "学生零零"
    requests = await api.post(
        "query($r: ID!) { changeRequests(recordId: $r) { nodes { id state changes record { name } } } }",
        {"r": thirty[0]},
        token=await api.login(COUNTY_REGISTRAR),
    )
    assert requests["data"]["changeRequests"]["nodes"] == [
        {
            "id": change_id,
            "state": "APPROVED",
            "changes": {"name": ["学生00", "学生零零"]},
            "record": {"name": "学生零零"},
        }
    ]
    found = await api.post(
        "query($n: String!) { studentRecords(nationalNumber: $n) { nodes { id } } }",
        {"n": "G" + students[0]["idNumber"]},
        token=registrar,
    )
    assert found["data"]["studentRecords"]["nodes"] == [{"id": thirty[0]}]
    by_name = (
        "query($n: String!, $d: Boolean!) { studentRecords(name: $n, includeDeleted: $d) { nodes { id } } }"
    )
    hidden = await api.post(by_name, {"n": existing["name"], "d": False}, token=registrar)
    kept = await api.post(by_name, {"n": existing["name"], "d": True}, token=registrar)
    assert hidden["data"]["studentRecords"]["nodes"] == []  # our deleted duplicate is left out ...
    assert kept["data"]["studentRecords"]["nodes"] == [{"id": ours_with_id}]  # ... but kept for history
    after_change = await api.post(
        "query($id: ID!) { studentRecord(id: $id) { businesses { kind state } } }",
        {"id": thirty[0]},
        token=registrar,
    )
    assert [b["kind"] for b in after_change["data"]["studentRecord"]["businesses"]] == [
        "registration_review",
        "change_request_review",
    ]

    # Every step is in the audit log the county leader reads (SEC-7).
    operations = await audit_operations(api, await api.login(COUNTY_LEADER))
    assert operations.count("record.created") >= 32
    assert operations.count("record.registered") == 30
    for expected in (
        "attachment.uploaded",
        "registration_list.imported",
        "problem.evidence_submitted",
        "problem.evidence_reviewed",
        "record.deleted",
        "record.submitted",
        "workflow.approved",
        "change_request.created",
        "change_request.applied",
    ):
        assert expected in operations, expected
    # The arbitration happened at the city: its audit row is in the city's scope, above the county.
    assert "problem.arbitrated" in await audit_operations(api, await api.login(CITY_LEADER))
