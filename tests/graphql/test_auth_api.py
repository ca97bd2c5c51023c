"""Sign-in, sessions and passwords through the API (SEC-1, SEC-2)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from backend.models import SignInEvent, User
from tests.api import COUNTY_ADMIN, LOGIN, SCHOOL_REGISTRAR, Api

ME = "{ me { user { username unit { name kind } } roles passwordChangeRequired operations } }"


async def test_login_then_me_shows_the_callers_school(api: Api) -> None:
    token = await api.login(SCHOOL_REGISTRAR)

    body = await api.post(ME, token=token)

    assert "errors" not in body
    me = body["data"]["me"]
    assert me["user"]["username"] == SCHOOL_REGISTRAR
    assert me["user"]["unit"] == {"name": "合肥市蜀山区琥珀小学", "kind": "SCHOOL"}
    assert me["roles"] == ["REGISTRAR"]
    assert "VIEW_STUDENTS" in me["operations"] and "MANAGE_USERS" not in me["operations"]


async def test_wrong_password_is_a_typed_error_and_is_logged(api: Api) -> None:  # RULES: SEC-1, MON-1
    body = await api.post(LOGIN, {"username": SCHOOL_REGISTRAR, "password": "Wrong#Pass1"})

    payload = body["data"]["login"]
    assert payload["token"] is None
    assert [e["code"] for e in payload["errors"]] == ["INVALID_CREDENTIALS"]
    assert payload["errors"][0]["message"] == "用户名或密码错误"
    async with api.runtime.db.read_session() as session:
        failures = await session.scalar(
            select(func.count())
            .select_from(SignInEvent)
            .where(SignInEvent.username == SCHOOL_REGISTRAR, SignInEvent.success.is_(False))
        )
    assert failures == 1


async def test_ten_aliased_wrong_logins_lock_the_account(api: Api) -> None:  # RULES: SEC-1
    fields = "\n".join(
        f'a{i}: login(username: "{SCHOOL_REGISTRAR}", password: "Wrong#Pass{i}") {{ errors {{ code message }} token }}'
        for i in range(10)
    )

    body = await api.post(f"mutation {{ {fields} }}")

    codes = [body["data"][f"a{i}"]["errors"][0]["code"] for i in range(10)]
    assert codes == ["INVALID_CREDENTIALS"] * 4 + ["ACCOUNT_LOCKED"] * 6
    assert "北京时间" in body["data"]["a9"]["errors"][0]["message"]
    # Even the right password is refused now, and says until when.
    right = await api.post(LOGIN, {"username": SCHOOL_REGISTRAR, "password": "Xueji@2026"})
    assert right["data"]["login"]["errors"][0]["code"] == "ACCOUNT_LOCKED"
    assert "10:15" in right["data"]["login"]["errors"][0]["message"]


async def test_lock_expires_after_fifteen_minutes(api: Api, clock) -> None:  # RULES: SEC-1
    for i in range(5):
        await api.post(LOGIN, {"username": SCHOOL_REGISTRAR, "password": f"Wrong#Pass{i}"})
    clock.advance(timedelta(minutes=15))

    assert await api.login(SCHOOL_REGISTRAR)


async def test_unauthenticated_query_is_refused_with_a_code(api: Api) -> None:
    body = await api.post(ME)

    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_garbage_token_is_unauthenticated(api: Api) -> None:
    body = await api.post(ME, token="not-a-token")

    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_logout_revokes_the_token(api: Api) -> None:
    token = await api.login(SCHOOL_REGISTRAR)

    body = await api.post("mutation { logout { errors { code } ok } }", token=token)

    assert body["data"]["logout"] == {"errors": [], "ok": True}
    after = await api.post(ME, token=token)
    assert [e["extensions"]["code"] for e in after["errors"]] == ["UNAUTHENTICATED"]


async def test_idle_session_expires_after_ten_minutes(api: Api, clock) -> None:  # RULES: SEC-1
    token = await api.login(SCHOOL_REGISTRAR)
    clock.advance(timedelta(minutes=10))

    body = await api.post(ME, token=token)

    assert [e["extensions"]["code"] for e in body["errors"]] == ["SESSION_EXPIRED"]


CHANGE = """
mutation Change($current: String!, $new: String!) {
  changePassword(currentPassword: $current, newPassword: $new) { errors { code field } token }
}
"""


async def test_change_password_revokes_old_sessions(api: Api) -> None:  # RULES: SEC-1
    old = await api.login(SCHOOL_REGISTRAR)

    body = await api.post(CHANGE, {"current": "Xueji@2026", "new": "Another#Pass9"}, token=old)

    payload = body["data"]["changePassword"]
    assert payload["errors"] == []
    assert (await api.post(ME, token=old))["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "errors" not in await api.post(ME, token=payload["token"])
    assert await api.login(SCHOOL_REGISTRAR, "Another#Pass9")


async def test_weak_new_password_changes_nothing(api: Api) -> None:  # RULES: SEC-1
    token = await api.login(SCHOOL_REGISTRAR)

    body = await api.post(CHANGE, {"current": "Xueji@2026", "new": "short"}, token=token)

    assert body["data"]["changePassword"]["errors"] == [{"code": "WEAK_PASSWORD", "field": "newPassword"}]
    assert "errors" not in await api.post(ME, token=token)
    assert await api.login(SCHOOL_REGISTRAR)


CREATE_USER = """
mutation Create($input: CreateUserInput!) {
  createUser(input: $input) { errors { code field } user { id username roles } initialPassword }
}
"""


async def test_new_account_must_change_password_first(api: Api) -> None:  # RULES: SEC-1, IME-6
    admin = await api.login(COUNTY_ADMIN)
    units = await api.post("{ units(kind: SCHOOL, first: 1) { nodes { id } } }", token=admin)
    school_id = units["data"]["units"]["nodes"][0]["id"]
    created = await api.post(
        CREATE_USER,
        {
            "input": {
                "username": "new-reg",
                "displayName": "新学籍员",
                "unitId": school_id,
                "roles": ["REGISTRAR"],
            }
        },
        token=admin,
    )
    initial = created["data"]["createUser"]["initialPassword"]

    body = await api.post(LOGIN, {"username": "new-reg", "password": initial})
    token = body["data"]["login"]["token"]
    assert body["data"]["login"]["passwordChangeRequired"] is True
    refused = await api.post("{ studentRecords(first: 1) { nodes { id } } }", token=token)
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["PASSWORD_CHANGE_REQUIRED"]
    changed = await api.post(CHANGE, {"current": initial, "new": "Fresh#Start7"}, token=token)
    fresh = changed["data"]["changePassword"]["token"]
    assert "errors" not in await api.post("{ studentRecords(first: 1) { nodes { id } } }", token=fresh)
    async with api.runtime.db.read_session() as session:
        user = await session.scalar(select(User).where(User.username == "new-reg"))
        assert user is not None and user.must_change_password is False
