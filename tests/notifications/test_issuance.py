"""Account issuance (IME-6): user name and initial password reach the person by email and SMS, once.

End to end over the real API, the real job and real servers: an administrator creates an account (and
later resets its password); the ``notifications`` job delivers through an SMTP server (aiosmtpd) and an
HTTP SMS gateway (uvicorn). The password is in the messages and nowhere else: not in audit rows, not in
logs, and not in the outbox once sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from backend.config import Settings
from backend.jobs import JOBS, run_due_jobs
from backend.models import AuditEntry, OutboxMessage
from backend.notifications.outbox import REDACTED_SENT, SENT
from tests.api import COUNTY_ADMIN, Api
from tests.notifications.support import Gateway, free_port, sms_gateway, smtp_server

CREATE = """
mutation($input: CreateUserInput!) {
  createUser(input: $input) { errors { code field } user { id username } initialPassword }
}
"""
RESET = "mutation($u: ID!) { resetPassword(userId: $u) { errors { code } initialPassword } }"
NOTIFICATIONS_JOB = tuple(job for job in JOBS if job.name == "notifications")


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    async with sms_gateway() as running:
        yield running


@pytest.fixture
def api_settings(
    base_settings: Settings, demo_database_url: str, smtp_port: int, gateway: Gateway
) -> Settings:
    return replace(
        base_settings,
        database_url=demo_database_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_sender="xueji@jyt.example.cn",
        sms_provider="http",
        sms_http_url=gateway.url,
        sms_http_token=gateway.token,
    )


async def own_unit(api: Api, token: str) -> str:
    body = await api.post("{ me { user { unit { id } } } }", token=token)
    unit_id = body["data"]["me"]["user"]["unit"]["id"]
    assert isinstance(unit_id, str)
    return unit_id


async def audit_text(api: Api) -> str:
    async with api.runtime.db.read_session() as session:
        rows = (await session.execute(select(AuditEntry.before, AuditEntry.after))).all()
    return json.dumps([list(row) for row in rows], ensure_ascii=False)


async def outbox(api: Api) -> list[tuple[str, str, str, str]]:
    async with api.runtime.db.read_session() as session:
        rows = await session.execute(
            select(
                OutboxMessage.channel, OutboxMessage.address, OutboxMessage.state, OutboxMessage.body
            ).order_by(OutboxMessage.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_a_new_account_gets_its_user_name_and_password_by_email_and_sms(
    api: Api, smtp_port: int, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:  # RULES: IME-6, IME-5
    caplog.set_level(logging.DEBUG)
    token = await api.login(COUNTY_ADMIN)
    given: dict[str, Any] = {
        "username": "zhao.liu",
        "displayName": "赵六",
        "unitId": await own_unit(api, token),
        "roles": ["REGISTRAR"],
        "phone": "13912345678",
        "email": "zhao.liu@school.example.cn",
    }

    created = (await api.post(CREATE, {"input": given}, token=token))["data"]["createUser"]
    password = created["initialPassword"]
    queued = await outbox(api)
    with smtp_server(smtp_port) as mailbox:
        [run] = await run_due_jobs(api.runtime, holder="t", jobs=NOTIFICATIONS_JOB)
        [again] = await run_due_jobs(api.runtime, holder="t", jobs=NOTIFICATIONS_JOB)  # not due yet

    assert created["errors"] == []
    assert [(channel, address) for channel, address, _, _ in queued] == [
        ("EMAIL", "zhao.liu@school.example.cn"),
        ("SMS", "13912345678"),
    ]
    assert run.result == {
        "routing": {"scanned": 0, "queued": 0, "digests": 0, "cursor": 0},
        "delivery": {"sent": 2, "retried": 0, "dead": 0, "released": 0},
    }
    assert not again.ran
    [mail] = mailbox.messages
    assert mailbox.recipients == [["zhao.liu@school.example.cn"]]
    assert mail["Subject"] == "【学籍系统】已为您开通学籍系统账号"
    assert "用户名：zhao.liu" in mail.get_content()
    assert f"初始密码：{password}" in mail.get_content()
    [sms] = gateway.received
    assert sms["phone"] == "13912345678"
    assert "zhao.liu" in sms["text"] and password in sms["text"]
    # The password is in the two messages and nowhere else.
    assert [(state, body) for _, _, state, body in await outbox(api)] == [(SENT, REDACTED_SENT)] * 2
    assert password not in await audit_text(api)
    # Our own logs at any level, and everyone's from INFO up (a driver's DEBUG log echoes SQL parameters).
    told = [r for r in caplog.records if r.name.startswith("backend") or r.levelno >= logging.INFO]
    assert any(r.name == "httpx" for r in told)  # the exchange with the gateway was logged …
    assert not any(password in record.getMessage() for record in told)  # … without the password


async def test_a_password_reset_sends_the_new_password(
    api: Api, smtp_port: int, gateway: Gateway
) -> None:  # RULES: IME-6
    token = await api.login(COUNTY_ADMIN)
    given = {
        "username": "sun.qi",
        "displayName": "孙七",
        "unitId": await own_unit(api, token),
        "roles": ["LEADER"],
        "email": "sun.qi@example.cn",
    }
    created = (await api.post(CREATE, {"input": given}, token=token))["data"]["createUser"]
    reset = (await api.post(RESET, {"u": created["user"]["id"]}, token=token))["data"]["resetPassword"]

    with smtp_server(smtp_port) as mailbox:
        await run_due_jobs(api.runtime, holder="t", jobs=NOTIFICATIONS_JOB)

    assert reset["errors"] == []
    subjects = [str(mail["Subject"]) for mail in mailbox.messages]
    assert subjects == ["【学籍系统】已为您开通学籍系统账号", "【学籍系统】您的账号密码已重置"]
    assert reset["initialPassword"] in mailbox.messages[1].get_content()
    assert created["initialPassword"] not in mailbox.messages[1].get_content()
    assert gateway.received == []  # no mobile number on the account
    text = await audit_text(api)
    assert created["initialPassword"] not in text and reset["initialPassword"] not in text


async def test_an_account_without_email_or_mobile_gets_nothing(api: Api) -> None:  # RULES: IME-6
    token = await api.login(COUNTY_ADMIN)
    given = {
        "username": "zhou.ba",
        "displayName": "周八",
        "unitId": await own_unit(api, token),
        "roles": ["LEADER"],
    }

    created = (await api.post(CREATE, {"input": given}, token=token))["data"]["createUser"]

    assert created["errors"] == []
    assert await outbox(api) == []


async def test_a_refused_account_creation_queues_nothing(api: Api) -> None:  # RULES: IME-6
    token = await api.login(COUNTY_ADMIN)
    given = {
        "username": "A B",
        "displayName": "坏名字",
        "unitId": await own_unit(api, token),
        "roles": ["LEADER"],
        "email": "x@example.cn",
    }

    created = (await api.post(CREATE, {"input": given}, token=token))["data"]["createUser"]

    assert [e["code"] for e in created["errors"]] == ["INVALID_USERNAME"]
    assert await outbox(api) == []
