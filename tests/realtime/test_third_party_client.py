"""The live to-do through someone else's client: graphql-ws (npm), driven by Node, against a real server.

Our other socket tests speak graphql-transport-ws frame by frame in Python, so they can only prove that the
server agrees with our own reading of the protocol. graphql-ws is the reference client of that protocol
and what browser and mobile GraphQL clients build on; this is the "done when" test of the live to-do: that
library, subscribed as the approver, sees the work another user's mutation created. It caught the server
sending binary frames, which our Python client accepted. Node is required (CI has it): without it the tests
fail rather than skip.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from tests.api import SCHOOL_REGISTRAR
from tests.realtime.test_live_todo import LEADER, TODO, login, submit_new_student
from tests.realtime.test_websocket import live_url  # noqa: F401 - the fixture

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "subscribe.mjs"
LOCKFILE = NODE_DIR / "package-lock.json"
INSTALLED = NODE_DIR / "node_modules" / ".package-lock.json"  # written by npm ci; the Makefile's target too
TIMEOUT = 20.0  # failure timeout only: Node's start-up and a first connection can be slow on a busy runner


def _require(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        pytest.fail(
            f"`{program}` is not on PATH: tests/realtime/test_third_party_client.py drives the graphql-ws npm "
            "client with Node.js 20 or newer; install Node.js (CI has it)",
            pytrace=False,
        )
    return found


def _installed() -> bool:
    return INSTALLED.exists() and INSTALLED.stat().st_mtime >= LOCKFILE.stat().st_mtime


@contextmanager
def _install_lock() -> Iterator[None]:
    """One `npm ci` at a time across processes (parallel pytest runs), keyed on this checkout's path."""
    key = hashlib.sha256(str(NODE_DIR.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"xueji-npm-ci-{key}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def node() -> str:
    """Node, with the pinned client packages installed (as `make test` would) when they are missing or stale."""
    node = _require("node")
    if not _installed():
        npm = _require("npm")
        with _install_lock():
            if not _installed():  # another process may have installed them while we waited
                done = subprocess.run(
                    [npm, "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund"],
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
                if done.returncode != 0:
                    pytest.fail(f"npm ci in {NODE_DIR} failed:\n{done.stdout}\n{done.stderr}", pytrace=False)
    return node


@asynccontextmanager
async def graphql_ws_client(
    node: str, base: str, token: str, query: str, events: int
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`subscribe.mjs` subscribed to `query`; it is killed on the way out whatever happened."""
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        "--url",
        f"ws://{base}/graphql",
        "--query",
        query,
        "--events",
        str(events),
        env={**os.environ, "XUEJI_WS_TOKEN": token},  # out of the process list
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            with suppress(ProcessLookupError):
                process.kill()
        await process.communicate()


async def next_line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None and process.stderr is not None
    line = await asyncio.wait_for(process.stdout.readline(), TIMEOUT)
    if not line:
        error = await asyncio.wait_for(process.stderr.read(), TIMEOUT)
        # Reaped here, not by kill(), which would race asyncio's child watcher for the exit status.
        status = await asyncio.wait_for(process.wait(), TIMEOUT)
        pytest.fail(f"the graphql-ws client ended early (exit {status}): {error.decode()}", pytrace=False)
    message = json.loads(line)
    assert isinstance(message, dict)
    return message


async def test_graphql_ws_client_sees_another_users_submission_live(
    node: str,
    live_url: str,  # noqa: F811
) -> None:
    # RULES: REG-4, MON-1 — the approver's own client learns of the registrar's submission at once
    registrar = await login(live_url, SCHOOL_REGISTRAR)
    leader = await login(live_url, LEADER)

    async with graphql_ws_client(node, live_url, leader, TODO, events=2) as client:
        assert await next_line(client) == {"ready": True}
        before = (await next_line(client))["data"]["todoChanged"]["count"]

        record_id = await submit_new_student(live_url, registrar, "三方一", 71)

        changed = await next_line(client)
        status = await asyncio.wait_for(client.wait(), TIMEOUT)

    assert list(changed) == ["data"]  # no errors beside the data
    assert changed["data"]["todoChanged"]["count"] == before + 1
    assert record_id in [item["workflow"]["subjectId"] for item in changed["data"]["todoChanged"]["items"]]
    assert status == 0  # two results, then graphql-ws completed and closed cleanly


async def test_graphql_ws_client_with_a_forged_token_is_refused(
    node: str,
    live_url: str,  # noqa: F811
) -> None:
    # RULES: SEC-1 — no session, no socket: the server closes with 4403 before acknowledging
    async with graphql_ws_client(node, live_url, "forged", TODO, events=1) as client:
        stdout, stderr = await asyncio.wait_for(client.communicate(), TIMEOUT)

    assert client.returncode == 1
    assert stdout == b""  # never acknowledged, so never ready and no data
    assert [json.loads(line) for line in stderr.splitlines()] == [
        {"error": {"close": {"code": 4403, "reason": "Forbidden"}}}
    ]
