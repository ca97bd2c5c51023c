"""A small GraphQL client over the real ASGI app, and the demo accounts tests sign in with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from backend.app import create_app
from backend.clock import FixedClock
from backend.config import Settings
from backend.demo import DEMO_PASSWORD
from backend.graphql.view import XuejiGraphQL
from backend.runtime import Runtime

SCHOOL_REGISTRAR = "2134010401-reg"  # 合肥市蜀山区琥珀小学
COUNTY_LEADER = "340104-lead"  # 蜀山区
COUNTY_ADMIN = "340104-admin"
PROVINCE_ADMIN = "340000-admin"


@dataclass
class Api:
    client: httpx.AsyncClient
    app: Starlette

    @property
    def runtime(self) -> Runtime:
        runtime = self.app.state.runtime
        assert isinstance(runtime, Runtime)
        return runtime

    @property
    def graphql_app(self) -> XuejiGraphQL:
        for route in self.app.routes:
            endpoint = getattr(route, "endpoint", None)
            if isinstance(endpoint, XuejiGraphQL):
                return endpoint
        raise LookupError("no /graphql route")

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        body = response.json()
        assert isinstance(body, dict), body
        return body

    async def login(self, username: str, password: str = DEMO_PASSWORD) -> str:
        body = await self.post(LOGIN, {"username": username, "password": password})
        payload = body["data"]["login"]
        assert payload["errors"] == [], payload
        token = payload["token"]
        assert isinstance(token, str)
        return token


LOGIN = """
mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password) {
    errors { code message field }
    token
    passwordChangeRequired
  }
}
"""


async def serve_api(settings: Settings, clock: FixedClock) -> AsyncIterator[Api]:
    app = create_app(settings, clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(client, app)
