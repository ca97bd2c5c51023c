"""Jurisdiction through the API: a school sees its own, out-of-jurisdiction looks absent (ORG-3)."""

from __future__ import annotations

from sqlalchemy import select

from backend.models import StudentRecord, Unit
from tests.api import COUNTY_LEADER, SCHOOL_REGISTRAR, Api

STUDENTS = """
query Students($after: String, $unitId: ID) {
  studentRecords(first: 100, after: $after, unitId: $unitId) {
    edges { cursor node { id name maskedIdNumber nationalNumber school { id name } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def _all_students(api: Api, token: str, unit_id: str | None = None) -> list[dict]:
    nodes: list[dict] = []
    after = None
    while True:
        body = await api.post(STUDENTS, {"after": after, "unitId": unit_id}, token=token)
        assert "errors" not in body, body
        page = body["data"]["studentRecords"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def _unit_id(api: Api, code: str) -> int:
    async with api.runtime.db.read_session() as session:
        unit_id = await session.scalar(select(Unit.id).where(Unit.code == code))
    assert unit_id is not None
    return unit_id


async def test_school_registrar_sees_only_its_own_students(api: Api) -> None:  # RULES: ORG-3
    token = await api.login(SCHOOL_REGISTRAR)
    school_id = await _unit_id(api, "2134010401")
    async with api.runtime.db.read_session() as session:
        expected = set(
            (
                await session.scalars(select(StudentRecord.id).where(StudentRecord.school_id == school_id))
            ).all()
        )

    nodes = await _all_students(api, token)

    assert {int(n["id"]) for n in nodes} == expected
    assert {n["school"]["id"] for n in nodes} == {str(school_id)}


async def test_county_leader_sees_all_schools_below(api: Api) -> None:  # RULES: ORG-3
    token = await api.login(COUNTY_LEADER)
    county = await _unit_id(api, "340104")
    async with api.runtime.db.read_session() as session:
        path = await session.scalar(select(Unit.path).where(Unit.id == county))
        expected = len(
            (
                await session.scalars(
                    select(StudentRecord.id).where(StudentRecord.unit_path.startswith(path))
                )
            ).all()
        )

    nodes = await _all_students(api, token)

    assert len(nodes) == expected > 0


async def test_id_numbers_are_masked_in_lists(api: Api) -> None:
    token = await api.login(SCHOOL_REGISTRAR)

    body = await api.post(STUDENTS, token=token)

    node = body["data"]["studentRecords"]["edges"][0]["node"]
    masked = node["maskedIdNumber"]
    assert len(masked) == 18 and masked[6:14] == "*" * 8
    assert node["nationalNumber"] == "G" + masked


async def test_other_schools_unit_looks_absent(api: Api) -> None:  # RULES: ORG-3
    token = await api.login(SCHOOL_REGISTRAR)
    sibling = await _unit_id(api, "340102")

    body = await api.post("query($id: ID!) { unit(id: $id) { id name } }", {"id": str(sibling)}, token=token)
    missing = await api.post('{ unit(id: "999999") { id } }', token=token)

    assert body == {"data": {"unit": None}}
    assert missing == {"data": {"unit": None}}


async def test_students_of_another_unit_look_absent(api: Api) -> None:  # RULES: ORG-3
    token = await api.login(SCHOOL_REGISTRAR)
    other = await _unit_id(api, "340102")

    body = await api.post(STUDENTS, {"unitId": str(other)}, token=token)
    absent = await api.post(STUDENTS, {"unitId": "99999999"}, token=token)

    assert [e["extensions"] for e in body["errors"]] == [{"code": "NOT_FOUND", "field": "unitId"}]
    assert [e["extensions"] for e in absent["errors"]] == [{"code": "NOT_FOUND", "field": "unitId"}]


async def test_malformed_ids_are_typed_errors(api: Api) -> None:
    token = await api.login(SCHOOL_REGISTRAR)

    body = await api.post('{ unit(id: "abc") { id } }', token=token)
    cursor = await api.post('{ studentRecords(after: "%%%") { nodes { id } } }', token=token)
    size = await api.post("{ studentRecords(first: 1000) { nodes { id } } }", token=token)

    assert [e["extensions"] for e in body["errors"]] == [{"code": "INVALID_INPUT", "field": "id"}]
    assert [e["extensions"]["code"] for e in cursor["errors"]] == ["INVALID_CURSOR"]
    assert [e["extensions"]["code"] for e in size["errors"]] == ["INVALID_PAGE_SIZE"]


async def test_tree_browsing_from_a_county(api: Api) -> None:  # RULES: ORG-1, ORG-3
    token = await api.login(COUNTY_LEADER)
    county = await _unit_id(api, "340104")

    body = await api.post(
        "query($id: ID!) { unit(id: $id) { name parent { id } children(first: 50) { nodes { kind } } } }",
        {"id": str(county)},
        token=token,
    )

    unit = body["data"]["unit"]
    assert unit["name"] == "蜀山区"
    assert unit["parent"] is None  # the city is above the county's jurisdiction
    assert unit["children"]["nodes"] and {n["kind"] for n in unit["children"]["nodes"]} == {"SCHOOL"}
