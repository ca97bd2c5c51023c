"""Cached sessions: fast on every request, never trusted past a sign-out on any process (SEC-1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from backend.app import create_app
from backend.clock import FixedClock
from backend.config import Settings
from backend.models import User
from backend.realtime.hub import Hub
from backend.realtime.wakeups import CHANNELS
from tests.api import LOGIN, SCHOOL_REGISTRAR, Api
from tests.conftest import TEST_BROADCAST_URL

ME = "{ me { user { username } } }"


@pytest.fixture
async def two_processes(api_settings: Settings, clock: FixedClock) -> AsyncIterator[tuple[Api, Api]]:
    """Two apps on one database and one broadcast, as two server processes would be.

    Over Redis each has its own hub; memory:// is one process by definition, so they share one.
    """
    first, second = create_app(api_settings, clock), create_app(api_settings, clock)
    if not TEST_BROADCAST_URL.startswith("redis"):
        shared = Hub(TEST_BROADCAST_URL, CHANNELS)
        first.state.runtime.hub = second.state.runtime.hub = shared
    async with first.router.lifespan_context(first), second.router.lifespan_context(second):
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a") as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b") as b,
        ):
            yield Api(a, first), Api(b, second)


async def _wait_until_refused(api: Api, token: str) -> dict:
    import asyncio

    for _ in range(50):
        body = await api.post(ME, token=token)
        if body.get("errors"):
            return body
        await asyncio.sleep(0.02)
    return body


async def test_sign_out_on_one_process_ends_the_session_on_another(two_processes: tuple[Api, Api]) -> None:
    a, b = two_processes
    token = await a.login(SCHOOL_REGISTRAR)
    assert "errors" not in await b.post(ME, token=token)  # now cached on b

    await a.post("mutation { logout { ok } }", token=token)

    body = await _wait_until_refused(b, token)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_password_change_on_one_process_ends_old_sessions_on_another(
    two_processes: tuple[Api, Api],
) -> None:
    a, b = two_processes
    token = await a.login(SCHOOL_REGISTRAR)
    await b.post(ME, token=token)

    await a.post(
        'mutation { changePassword(currentPassword: "Xueji@2026", newPassword: "Next#Pass2026") { token } }',
        token=token,
    )

    body = await _wait_until_refused(b, token)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_a_change_nobody_announced_is_seen_within_five_seconds(api: Api, clock: FixedClock) -> None:
    token = await api.login(SCHOOL_REGISTRAR)
    await api.post(ME, token=token)
    async with api.runtime.unit_of_work() as uow:  # behind the service's back: no notice
        await uow.session.execute(
            update(User).where(User.username == SCHOOL_REGISTRAR).values(is_active=False)
        )

    clock.advance(timedelta(seconds=5))
    body = await api.post(ME, token=token)

    assert [e["extensions"]["code"] for e in body["errors"]] == ["SESSION_EXPIRED"]


async def test_cached_requests_send_no_sql(api: Api) -> None:
    from tests.graphql.test_conventions import count_statements

    token = await api.login(SCHOOL_REGISTRAR)
    await api.post(ME, token=token)

    with count_statements(api) as statements:
        body = await api.post(ME, token=token)

    assert body["data"]["me"]["user"]["username"] == SCHOOL_REGISTRAR
    assert statements == []


async def test_wrong_login_is_not_affected_by_the_cache(api: Api) -> None:
    body = await api.post(LOGIN, {"username": SCHOOL_REGISTRAR, "password": "nope"})

    assert body["data"]["login"]["errors"][0]["code"] == "INVALID_CREDENTIALS"


def test_lapsed_entries_do_not_pile_up() -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from backend.realtime.session_cache import TTL, SessionCache

    def resolved(user_id: int) -> Any:
        return SimpleNamespace(
            actor=SimpleNamespace(user_id=user_id, delegate_id=None), person=SimpleNamespace(id=user_id)
        )

    cache, start = SessionCache(), datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    for n in range(1_000):  # sockets opening one after the other, each with its own session
        cache.put(f"token-{n}", resolved(n), start + n * TTL / 100)
    assert len(cache._entries) == 100  # only those still within the TTL of the newest
    assert cache.get("token-999", start + 999 * TTL / 100) is not None
