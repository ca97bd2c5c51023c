"""Hardening probes of the GraphQL endpoint: limits, masking, production mode."""

from __future__ import annotations

import pytest

from backend.domain.units import queries as unit_queries
from tests.api import LOGIN, SCHOOL_REGISTRAR, Api


def codes(body: dict) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


async def test_101_aliases_are_rejected(api: Api) -> None:
    token = await api.login(SCHOOL_REGISTRAR)
    aliases = " ".join(f"a{i}: me {{ roles }}" for i in range(101))

    body = await api.post(f"{{ {aliases} }}", token=token)

    assert body.get("data") is None
    assert len(body["errors"]) == 1
    assert "alias" in body["errors"][0]["message"].lower()


async def test_100_aliases_are_allowed(api: Api) -> None:
    token = await api.login(SCHOOL_REGISTRAR)
    aliases = " ".join(f"a{i}: me {{ roles }}" for i in range(100))

    body = await api.post(f"{{ {aliases} }}", token=token)

    assert "errors" not in body
    assert len(body["data"]) == 100


async def test_13_levels_of_nesting_are_rejected(api: Api) -> None:
    token = await api.login(SCHOOL_REGISTRAR)
    query = "{ me { user { unit " + "{ parent " * 10 + "{ id }" + " }" * 10 + " } } }"

    body = await api.post(query, token=token)

    assert body.get("data") is None
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]


async def test_12_levels_of_nesting_are_allowed(api: Api) -> None:
    token = await api.login(SCHOOL_REGISTRAR)
    query = "{ me { user { unit " + "{ parent " * 9 + "{ id }" + " }" * 9 + " } } }"

    body = await api.post(query, token=token)

    assert "errors" not in body


async def test_500_repeated_fields_are_rejected_before_validation(api: Api) -> None:
    token = await api.login(SCHOOL_REGISTRAR)
    query = "{ me { " + "roles " * 500 + "} }"

    body = await api.post(query, token=token)

    assert body.get("data") is None
    assert codes(body) == ["QUERY_TOO_COMPLEX"]


async def test_directive_flooding_is_rejected(api: Api) -> None:
    token = await api.login(SCHOOL_REGISTRAR)
    query = "{ me { roles " + "@include(if: true) " * 50 + "} }"

    body = await api.post(query, token=token)

    assert codes(body) == ["QUERY_TOO_COMPLEX"]


async def test_too_many_tokens_are_rejected(api: Api) -> None:
    query = "{ me { " + " ".join(f"a{i}: roles" for i in range(1600)) + " } }"

    body = await api.post(query)

    assert body.get("data") is None
    assert "token" in body["errors"][0]["message"].lower()


async def test_unexpected_exception_is_masked(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    token = await api.login(SCHOOL_REGISTRAR)

    async def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM internals -- boom")

    monkeypatch.setattr(unit_queries, "find_unit", explode)

    response = await api.client.post(
        "/graphql", json={"query": '{ unit(id: "1") { id } }'}, headers={"authorization": f"Bearer {token}"}
    )

    assert response.status_code == 200
    assert "boom" not in response.text and "SELECT" not in response.text and "Traceback" not in response.text
    body = response.json()
    assert body["errors"][0]["message"] == "Unexpected error."
    assert codes(body) == ["INTERNAL_ERROR"]


async def test_introspection_is_off_in_production(production_api: Api) -> None:
    body = await production_api.post("{ __schema { types { name } } }")

    assert body.get("data") is None
    assert "introspection" in body["errors"][0]["message"].lower()


async def test_introspection_works_outside_production(api: Api) -> None:
    body = await api.post("{ __schema { queryType { name } } }")

    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_field_suggestions_are_absent_in_production(production_api: Api, api: Api) -> None:
    token = await production_api.login(SCHOOL_REGISTRAR)

    body = await production_api.post("{ me { rolez } }", token=token)
    dev = await api.post("{ me { rolez } }", token=await api.login(SCHOOL_REGISTRAR))

    assert "Did you mean" not in body["errors"][0]["message"]
    assert "Did you mean" in dev["errors"][0]["message"]


async def test_get_queries_are_refused_in_production(production_api: Api) -> None:
    response = await production_api.client.get("/graphql", params={"query": "{ __typename }"})

    assert response.status_code in {400, 405}
    assert "__typename" not in response.text


async def test_graphiql_is_not_served_in_production(production_api: Api, api: Api) -> None:
    prod = await production_api.client.get("/graphql", headers={"accept": "text/html"})
    dev = await api.client.get("/graphql", headers={"accept": "text/html"})

    assert "graphiql" not in prod.text.lower()
    assert "graphiql" in dev.text.lower()


async def test_mutation_input_errors_never_leak_internals(api: Api) -> None:
    body = await api.post(LOGIN, {"username": "x" * 5000, "password": "y"})

    assert body["data"]["login"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
