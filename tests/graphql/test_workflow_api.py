"""Acting on a business over GraphQL: a comment with proof shows in the timeline (SEC-3)."""

from __future__ import annotations

from tests.api import SCHOOL_REGISTRAR, Api
from tests.domain.attachments.samples import PNG
from tests.graphql.test_idempotent_starts import REGISTER, SUBMIT, demo_values_and_class

TODO = "{ toDo { nodes { workflow { id subjectId version } } } }"
COMMENT = """
mutation($w: ID!, $a: [ID!]) {
  actOnWorkflow(workflowId: $w, action: COMMENT, comment: "请补充户口簿", attachmentIds: $a) { errors { code field } }
}
"""
TIMELINE = "query($w: ID!) { workflow(id: $w) { actions { action comment attachmentIds unitId role } } }"


async def test_a_comment_carries_proof_into_the_timeline(api: Api) -> None:
    # RULES: SEC-3, REG-4
    registrar = await api.login(SCHOOL_REGISTRAR)
    values, class_id = await demo_values_and_class(api, "钱二", 42)
    created = await api.post(
        REGISTER, {"i": {"kind": "IN_SCHOOL", "classId": class_id, **values}}, token=registrar
    )
    record_id = created["data"]["registerStudent"]["record"]["id"]
    await api.post(SUBMIT, {"r": record_id, "k": None}, token=registrar)
    leader = await api.login("2134010401-lead")
    (item,) = [
        n["workflow"]
        for n in (await api.post(TODO, token=leader))["data"]["toDo"]["nodes"]
        if n["workflow"]["subjectId"] == record_id
    ]
    upload = await api.client.post(
        "/attachments?purpose=PROOF",
        files={"file": ("说明.png", PNG, "image/png")},
        headers={"authorization": f"Bearer {leader}"},
    )
    proof = upload.json()["id"]

    commented = await api.post(COMMENT, {"w": item["id"], "a": [proof]}, token=leader)
    foreign = await api.post(COMMENT, {"w": item["id"], "a": ["999999"]}, token=leader)
    timeline = await api.post(TIMELINE, {"w": item["id"]}, token=registrar)

    assert commented["data"]["actOnWorkflow"]["errors"] == []
    assert foreign["data"]["actOnWorkflow"]["errors"] == [{"code": "NOT_FOUND", "field": "attachmentIds"}]
    last = timeline["data"]["workflow"]["actions"][-1]
    assert (last["action"], last["comment"], last["attachmentIds"], last["role"]) == (
        "comment",
        "请补充户口簿",
        [proof],
        "LEADER",
    )
    assert last["unitId"] is not None
