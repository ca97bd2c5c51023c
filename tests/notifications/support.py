"""Real servers for delivery tests: an SMTP server (aiosmtpd), an HTTP SMS gateway (uvicorn), accounts.

Both servers listen on 127.0.0.1 on a free port; the SMTP server keeps every message it accepted, parsed,
so tests count deliveries exactly. ``tls_files`` makes a throw-away self-signed certificate with the
``openssl`` command (tests needing it are skipped where there is none).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from backend.clock import FixedClock
from backend.config import Settings
from backend.db import Database, UnitOfWork
from backend.models import Unit, User
from backend.models.enums import Role, UnitKind
from backend.notifications.outbox import OutgoingMessage
from tests.domain.factories import make_unit, make_user

Begin = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        assert isinstance(port, int)
        return port


class Mailbox:
    """The aiosmtpd handler: every accepted message, parsed."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.refuse = refuse

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        return [str(message["Message-ID"]) for message in self.messages]


@contextmanager
def smtp_server(
    port: int | None = None, *, refuse: frozenset[str] = frozenset(), **options: Any
) -> Iterator[Mailbox]:
    """An SMTP server on ``port`` (a free one by default) for the block's duration; refuses ``refuse``."""
    mailbox = Mailbox(refuse)
    controller = Controller(mailbox, hostname="127.0.0.1", port=port or free_port(), **options)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def accept_login(username: str, password: str) -> Callable[..., AuthResult]:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = auth_data.login == username.encode() and auth_data.password == password.encode()
        return AuthResult(success=ok, handled=False)

    return authenticate


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


def tls_files(folder: Path) -> TlsFiles:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a test certificate")
    files = TlsFiles(folder / "cert.pem", folder / "key.pem")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(files.key), "-out", str(files.cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return files


@dataclass
class Gateway:
    """The SMS gateway's side: what it was sent, and the status it answers with."""

    status: int = 200
    token: str = "gateway-token"
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def endpoint(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        body = await request.json()
        if self.status < 300:
            self.received.append(body)
        return JSONResponse({"ok": self.status < 300}, status_code=self.status)


@asynccontextmanager
async def sms_gateway(status: int = 200) -> AsyncIterator[Gateway]:
    """A real HTTP server (uvicorn) standing in for the SMS provider's API."""
    gateway = Gateway(status=status)
    app = Starlette(routes=[Route("/sms", gateway.endpoint, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    gateway.url = f"http://127.0.0.1:{sock.getsockname()[1]}/sms"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", http="h11"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        yield gateway
    finally:
        server.should_exit = True
        await task
        sock.close()


class RecordingSender:
    """A sender that remembers what it sent (and can be told to fail), for protocol tests."""

    def __init__(self, *, pause: float = 0.0) -> None:
        self.sent: list[OutgoingMessage] = []
        self.pause = pause

    async def send(self, message: OutgoingMessage) -> None:
        await asyncio.sleep(self.pause)
        self.sent.append(message)


def smtp_settings(settings: Settings, port: int, **changes: Any) -> Settings:
    return replace(settings, smtp_host="127.0.0.1", smtp_port=port, smtp_sender="xueji@example.cn", **changes)


@dataclass
class People:
    """A school with accounts whose addresses the routing tests vary."""

    school: Unit
    zhang: User  # email and mobile
    li: User  # email only
    wang: User  # neither


async def make_people(db: Database, clock: FixedClock, settings: Settings) -> People:
    async with db.unit_of_work(clock, settings) as uow:
        ministry = await make_unit(uow, UnitKind.MINISTRY, "100000", name="教育部")
        province = await make_unit(uow, UnitKind.PROVINCE, "340000", ministry, name="测试省")
        city = await make_unit(uow, UnitKind.CITY, "340100", province, name="甲市")
        county = await make_unit(uow, UnitKind.COUNTY, "340102", city, name="甲市东区")
        school = await make_unit(uow, UnitKind.SCHOOL, "3401020001", county, name="东区第一小学")
        zhang = await make_user(uow, school, "zhang.san", (Role.LEADER,))
        zhang.email, zhang.phone, zhang.display_name = "zhang@example.cn", "13812345678", "张三"
        li = await make_user(uow, school, "li.si", (Role.LEADER,))
        li.email, li.display_name = "li@example.cn", "李四"
        wang = await make_user(uow, school, "wang.wu", (Role.LEADER,))
        wang.display_name = "王五"
    return People(school, zhang, li, wang)
