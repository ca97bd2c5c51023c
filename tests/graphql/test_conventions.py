"""API conventions every later feature relies on: pagination, DataLoaders, time zones, error shapes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tests.api import COUNTY_ADMIN, COUNTY_LEADER, Api


@contextmanager
def count_statements(api: Api) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = api.runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


USERS_PAGE = """
query($first: Int!) {
  users(includeSubunits: true, first: $first) { nodes { username unit { name parent { name } } roles } }
}
"""


async def test_a_page_costs_the_same_statements_whatever_its_size(api: Api) -> None:
    token = await api.login(COUNTY_ADMIN)
    await api.post(USERS_PAGE, {"first": 1}, token=token)  # warm the session

    with count_statements(api) as small:
        few = await api.post(USERS_PAGE, {"first": 3}, token=token)
    with count_statements(api) as large:
        many = await api.post(USERS_PAGE, {"first": 15}, token=token)

    assert len(few["data"]["users"]["nodes"]) == 3
    assert len(many["data"]["users"]["nodes"]) == 15
    assert len(small) == len(large)
    assert len(large) <= 7  # session, roles of the caller, page, units, parents, roles (+ touch)


async def test_cursor_pagination_walks_every_row_once(api: Api) -> None:
    token = await api.login(COUNTY_LEADER)
    seen: list[str] = []
    after = None
    while True:
        body = await api.post(
            "query($a: String) { units(first: 2, after: $a) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }",
            {"a": after},
            token=token,
        )
        page = body["data"]["units"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        assert page["pageInfo"]["endCursor"] == (page["edges"][-1]["cursor"] if page["edges"] else None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert len(seen) == len(set(seen)) > 2


async def test_times_are_shown_in_beijing_time(api: Api) -> None:
    token = await api.login(COUNTY_LEADER)

    body = await api.post("{ me { user { lastSignInAt } passwordExpiresAt } }", token=token)

    assert body["data"]["me"]["user"]["lastSignInAt"] == "2026-11-25T10:00:00+08:00"
    assert body["data"]["me"]["passwordExpiresAt"].endswith("+08:00")


async def test_mutation_errors_are_payload_entries_and_change_nothing(api: Api) -> None:
    token = await api.login(COUNTY_ADMIN)
    before = await api.post("{ users(includeSubunits: true, first: 100) { nodes { id } } }", token=token)

    body = await api.post(
        'mutation { createUser(input: {username: "A B", displayName: "", unitId: "x", roles: []}) '
        "{ errors { code message field } user { id } } }",
        token=token,
    )

    payload = body["data"]["createUser"]
    assert payload["user"] is None
    assert len(payload["errors"]) == 1
    error = payload["errors"][0]
    assert error["code"] == "INVALID_INPUT"
    assert error["field"] == "unitId"
    assert error["message"] == "编号格式不正确"
    after = await api.post("{ users(includeSubunits: true, first: 100) { nodes { id } } }", token=token)
    assert after == before


RECORDS_PAGE = """
query($first: Int!) {
  studentRecords(first: $first) {
    nodes {
      name maskedIdNumber school { name } class { name } guardians { name relation }
      numberHistory { number kind } problems { problemType state }
    }
  }
}
"""


async def test_a_page_of_records_with_school_class_and_guardians_costs_constant_statements(api: Api) -> None:
    token = await api.login(COUNTY_LEADER)
    await api.post(RECORDS_PAGE, {"first": 1}, token=token)

    with count_statements(api) as small:
        few = await api.post(RECORDS_PAGE, {"first": 5}, token=token)
    with count_statements(api) as large:
        many = await api.post(RECORDS_PAGE, {"first": 100}, token=token)

    assert len(few["data"]["studentRecords"]["nodes"]) == 5
    assert len(many["data"]["studentRecords"]["nodes"]) == 100
    # page, schools, classes, guardians, number history, problems (+ session)
    assert len(small) == len(large) <= 7
