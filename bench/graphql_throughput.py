"""Throughput of an authenticated ``me`` query against Xueji, next to a bare strawberry ``{ hello }``.

Both servers run the same way, one after the other, each as its own uvicorn process (one worker, no
access log) on a free loopback port: Xueji on a fresh SQLite database with the demo province, loaded by
``xueji db upgrade`` and ``xueji demo load`` in a temporary ``XUEJI_VAR_DIR``; the bare app is a Starlette
route to strawberry's ASGI view with the same parser and validation caches Xueji uses. This process is the
load generator: N concurrent keep-alive connections (httpx on asyncio) for a fixed time after a warm-up.

It prints requests, seconds, requests/s, p50/p99 latency and the CPU share of server and client (a client
near 100% means the figures measure the client, not the server), then the Xueji/bare ratio (goal: at
least 50%) and how many SQL statements one ``me`` request sends. Exits 1 if any request failed.

    .venv/bin/python bench/graphql_throughput.py [--connections 32] [--duration 10] [--warmup 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # loopback only; clients ignore proxy settings (trust_env=False)
USERNAME = "2134010401-reg"  # a school registrar of the demo province (合肥市蜀山区琥珀小学)
ME_QUERY = "{ me { user { username } roles } }"
HELLO_QUERY = "{ hello }"
LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { errors { code } token } }"
READY_SECONDS = 30.0
GOAL = 0.5
T = TypeVar("T")


def bare_app() -> Any:
    """A bare strawberry ``{ hello }`` app with Xueji's caches (run by uvicorn with ``--factory``)."""
    import strawberry
    from starlette.applications import Starlette
    from starlette.routing import Route
    from strawberry.asgi import GraphQL
    from strawberry.extensions import ParserCache, ValidationCache

    @strawberry.type
    class Query:
        @strawberry.field
        def hello(self) -> str:
            return "world"

    schema = strawberry.Schema(
        query=Query,
        extensions=[lambda: ParserCache(maxsize=1024), lambda: ValidationCache(maxsize=1024)],
    )
    return Starlette(routes=[Route("/graphql", GraphQL(schema, graphql_ide=None), methods=["GET", "POST"])])


@dataclass
class Result:
    target: str
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    server_cpu: float | None = None
    client_cpu: float | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def per_cpu_second(self) -> float | None:
        """Requests per second of server CPU: the server's capacity, even when the client is the limit."""
        return self.rate / self.server_cpu if self.server_cpu else None

    def percentile_ms(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process from ``/proc`` (Linux), or ``None`` elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def xueji_env(var_dir: Path) -> dict[str, str]:
    """The process environment without any XUEJI_* setting, plus a throw-away SQLite database."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("XUEJI_")}
    env.update(
        XUEJI_VAR_DIR=str(var_dir),
        XUEJI_DATABASE_URL=f"sqlite+aiosqlite:///{var_dir / 'bench.sqlite3'}",
        XUEJI_BROADCAST_URL="memory://",
        XUEJI_PRODUCTION="false",
    )
    return env


def prepare_database(env: dict[str, str]) -> None:
    for command in (["db", "upgrade"], ["demo", "load"]):
        print(f"$ xueji {' '.join(command)}", flush=True)
        subprocess.run([sys.executable, "-m", "backend.cli", *command], cwd=ROOT, env=env, check=True)


@contextmanager
def server(name: str, app: list[str], env: dict[str, str], log_dir: Path) -> Iterator[tuple[str, int]]:
    """Run uvicorn for ``app`` on a free loopback port; yield (base URL, pid) once it answers."""
    port = free_port()
    log_path = log_dir / f"{name}.log"
    command = [sys.executable, "-m", "uvicorn", "--factory", *app, "--host", HOST, "--port", str(port)]
    command += ["--workers", "1", "--no-access-log", "--log-level", "warning"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://{HOST}:{port}"
    try:
        wait_until_ready(base, process, log_path)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until_ready(base: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            response = httpx.post(
                f"{base}/graphql", json={"query": "{ __typename }"}, timeout=2, trust_env=False
            )
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not answer within {READY_SECONDS:.0f} s:\n{log_path.read_text()}")


def sign_in(base: str, password: str) -> str:
    response = httpx.post(
        f"{base}/graphql",
        json={"query": LOGIN, "variables": {"u": USERNAME, "p": password}},
        timeout=30,
        trust_env=False,
    )
    response.raise_for_status()
    payload = response.json()["data"]["login"]
    if payload["errors"] or not payload["token"]:
        raise RuntimeError(f"sign-in as {USERNAME} failed: {payload['errors']}")
    return str(payload["token"])


Check = Callable[[Any], bool]


@dataclass(frozen=True)
class Target:
    name: str
    base: str
    pid: int
    query: str
    check: Check
    headers: dict[str, str] = field(default_factory=dict)


async def load(target: Target, args: argparse.Namespace) -> Result:
    """Warm up, then keep ``args.connections`` requests in flight for ``args.duration`` seconds.

    Each connection is its own single-connection client: one shared httpx pool of 32 costs the client
    about four times the CPU per request, and the client shares this machine's cores with the server.
    """
    body = orjson.dumps({"query": target.query})
    headers = {"content-type": "application/json", **target.headers}
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(base_url=target.base, headers=headers, limits=one, timeout=10, trust_env=False)
        for _ in range(args.connections)
    ]

    async def worker(client: httpx.AsyncClient, deadline: float, result: Result) -> None:
        while (started := time.perf_counter()) < deadline:
            try:
                response = await client.post("/graphql", content=body)
            except httpx.HTTPError as error:
                problem: str | None = f"{type(error).__name__}: {error}"
            else:
                ok = response.status_code == 200 and passes(target.check, response.content)
                problem = None if ok else f"HTTP {response.status_code}: {response.text[:200]}"
            result.latencies.append(time.perf_counter() - started)
            result.requests += 1
            if problem is not None:
                result.failures.append(problem)

    async def phase(seconds: float) -> Result:
        result = Result(target.name)
        server_before, client_before = cpu_seconds(target.pid), time.process_time()
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(worker(client, deadline, result) for client in clients))
        result.seconds = time.perf_counter() - started
        server_after = cpu_seconds(target.pid)
        if server_before is not None and server_after is not None:
            result.server_cpu = (server_after - server_before) / result.seconds
        result.client_cpu = (time.process_time() - client_before) / result.seconds
        return result

    try:
        warm = await phase(args.warmup)
        measured = await phase(args.duration)
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    measured.failures = warm.failures + measured.failures
    return measured


async def sql_statements_per_me(env: dict[str, str], token: str) -> int:
    """Statements one steady-state ``me`` request sends, counted in-process on the same database."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from backend.app import create_app
    from backend.config import load_settings

    app = create_app(load_settings(env=env))
    runtime = app.state.runtime
    count = 0

    def counter(*_: Any) -> None:
        nonlocal count
        count += 1

    await runtime.start()
    event.listen(Engine, "before_cursor_execute", counter)
    try:
        transport = httpx.ASGITransport(app=app)
        headers = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
            for _ in range(2):  # the first may refresh last-seen; count the second
                count = 0
                response = await client.post("/graphql", json={"query": ME_QUERY})
                if not check_me(response.json()):
                    raise RuntimeError(f"in-process me failed: {response.text[:200]}")
        return count
    finally:
        event.remove(Engine, "before_cursor_execute", counter)
        await runtime.stop()


def passes(check: Check, content: bytes) -> bool:
    try:
        return check(orjson.loads(content))
    except (ValueError, KeyError, TypeError):
        return False


def check_me(payload: Any) -> bool:
    return "errors" not in payload and payload["data"]["me"]["user"]["username"] == USERNAME


def check_hello(payload: Any) -> bool:
    return "errors" not in payload and payload["data"]["hello"] == "world"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def report(results: list[Result]) -> None:
    head = "target requests seconds req/s p50_ms p99_ms server_CPU client_CPU req/CPU-s".split()
    head = [name.replace("_", " ") for name in head]
    rows = [
        (
            r.target,
            str(r.requests),
            f"{r.seconds:.2f}",
            f"{r.rate:.1f}",
            f"{r.percentile_ms(0.50):.1f}",
            f"{r.percentile_ms(0.99):.1f}",
            percent(r.server_cpu),
            percent(r.client_cpu),
            "-" if r.per_cpu_second is None else f"{r.per_cpu_second:.0f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in (head, *rows)) for i in range(len(head))]
    for row in (head, *rows):
        cells = [cell.rjust(width) for cell, width in zip(row, widths, strict=True)]
        cells[0] = row[0].ljust(widths[0])
        print("  ".join(cells))


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run the load generator on uvloop when it is installed (it comes with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per target")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per target")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from backend.demo import DEMO_PASSWORD

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="xueji-bench-") as tmp:
        tmp_dir = Path(tmp)
        env = xueji_env(tmp_dir / "var")
        prepare_database(env)

        print(f"\nXueji: {ME_QUERY} as {USERNAME}, {args.connections} connections, {args.duration:g} s")
        with server("xueji", ["backend.app:create_app"], env, tmp_dir) as (base, pid):
            token = sign_in(base, DEMO_PASSWORD)
            auth = {"authorization": f"Bearer {token}"}
            results.append(run(load(Target("xueji me", base, pid, ME_QUERY, check_me, auth), args)))
        statements = asyncio.run(sql_statements_per_me(env, token))

        print(f"bare strawberry: {HELLO_QUERY}, {args.connections} connections, {args.duration:g} s")
        bare = ["--app-dir", str(Path(__file__).resolve().parent), "graphql_throughput:bare_app"]
        with server("bare", bare, env, tmp_dir) as (base, pid):
            results.append(run(load(Target("bare hello", base, pid, HELLO_QUERY, check_hello), args)))

    print()
    report(results)
    ours, theirs = results
    ratio = ours.rate / theirs.rate if theirs.rate else 0.0
    verdict = "met" if ratio >= GOAL else "NOT met"
    print(f"\nratio xueji/bare, req/s: {ratio:.1%} (goal >= {GOAL:.0%}: {verdict})")
    if ours.per_cpu_second and theirs.per_cpu_second:
        cpu_ratio = ours.per_cpu_second / theirs.per_cpu_second
        print(
            f"ratio xueji/bare, req per server CPU-second: {cpu_ratio:.1%} (fair when a run is client-bound)"
        )
    print(f"SQL statements per me request: {statements}")

    failures = [(r.target, problem) for r in results for problem in r.failures]
    if failures:
        target, problem = failures[0]
        print(f"\n{len(failures)} request(s) failed; first: {target}: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
