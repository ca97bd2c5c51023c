"""Mutations that start a review accept a client key: a retry returns the first result, writes nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select

from backend.domain.records.id_numbers import make_resident_id
from backend.models import AuditEntry, SchoolClass, Unit, WorkflowInstance
from backend.models.enums import Gender
from tests.api import SCHOOL_REGISTRAR, Api
from tests.domain.records.support import GUARDIANS, student_values

REGISTER = """
mutation($i: RegisterStudentInput!) { registerStudent(input: $i) { errors { code } record { id } } }
"""
SUBMIT = """
mutation($r: ID!, $k: String) {
  submitRegistration(recordId: $r, idempotencyKey: $k) { errors { code field } record { registrationState } }
}
"""


async def counts(api: Api) -> tuple[int, int]:
    async with api.runtime.db.read_session() as session:
        instances = await session.scalar(select(func.count()).select_from(WorkflowInstance))
        audit = await session.scalar(select(func.count()).select_from(AuditEntry))
    return int(instances or 0), int(audit or 0)


async def demo_values_and_class(api: Api, name: str, seq: int) -> tuple[dict[str, Any], str]:
    """A complete new student for 琥珀小学 (``values`` and ``guardians``) and its grade-3 class id."""
    async with api.runtime.db.read_session() as session:
        school = await session.scalar(select(Unit.id).where(Unit.code == "2134010401"))
        class_id = await session.scalar(
            select(SchoolClass.id).where(SchoolClass.school_id == school, SchoolClass.grade == 3)
        )
    birth = date(2017, 4, 2)
    values = student_values(name, birth=birth, idNumber=make_resident_id("340104", birth, seq, Gender.MALE))
    return {"values": values, "guardians": GUARDIANS}, str(class_id)


async def test_a_retried_submission_returns_the_first_result(api: Api) -> None:
    # RULES: REG-4
    token = await api.login(SCHOOL_REGISTRAR)
    values, class_id = await demo_values_and_class(api, "赵一", 41)
    created = await api.post(
        REGISTER, {"i": {"kind": "IN_SCHOOL", "classId": class_id, **values}}, token=token
    )
    record_id = created["data"]["registerStudent"]["record"]["id"]

    first = await api.post(SUBMIT, {"r": record_id, "k": "submit-7f3a"}, token=token)
    after_first = await counts(api)
    retry = await api.post(SUBMIT, {"r": record_id, "k": "submit-7f3a"}, token=token)
    plain_retry = await api.post(SUBMIT, {"r": record_id, "k": None}, token=token)

    assert first["data"]["submitRegistration"]["record"]["registrationState"] == "IN_REVIEW"
    assert retry["data"]["submitRegistration"] == {"errors": [], "record": {"registrationState": "IN_REVIEW"}}
    assert await counts(api) == after_first  # nothing written by the retry
    # Without the key a second submission is a second request, refused by the rules.
    assert plain_retry["data"]["submitRegistration"]["errors"][0]["code"] == "INVALID_REGISTRATION_STATE"
