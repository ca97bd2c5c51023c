"""Delivery latency and idle memory of graphql-transport-ws subscribers: Xueji next to a bare strawberry app.

The issue asks for 10,000 concurrent subscribers on one server process, one event addressed to all of them:
p99 delivery under 1 s, and server memory per idle connection at most half that of a bare strawberry
0.341 + uvicorn app with one asyncio queue per subscriber (measured there: 5,000 subscribers p50 380 ms,
p99 1.1 s, ~88 KB per connection); then the same with two server processes over Redis, 5,000 each. This
script runs the baseline and Xueji one after the other in one invocation and prints both.

Scenarios (``--scenario``, all by default; N is ``--subscribers``, 10,000 by default):

* ``bare``: ``bench/bare_subscriptions.py`` under uvicorn (one worker, default settings, access log off),
  with N/2 subscribers (the issue's 5,000) and with N; ``POST /publish`` stamps the event with the sender's
  ``time.time()`` and puts it into every subscriber's queue.
* ``bare-deflate``: the same with N/2 subscribers whose clients offer permessage-deflate (websockets'
  default, and what browsers do): the issue's baseline (its ~88 KB per connection).
* ``xueji``: one ``xueji serve`` process, N subscribers.
* ``xueji-2``: two ``xueji serve`` processes on one Redis, N/2 subscribers each.

Xueji's clients offer permessage-deflate too, like bare-deflate's and like browsers (Xueji declines it);
``bare``'s clients turn it off, which shows the bare app at its leanest.

Xueji runs on a temporary SQLite file (``--database-url postgresql+asyncpg://user@host:port/`` creates and
drops a bench database on that server instead), prepared with ``xueji db upgrade`` and ``xueji demo load``
in a temporary ``XUEJI_VAR_DIR``, with the broadcast on ``--redis-url`` (Redis pub/sub ignores the database
number: a test publishing on channel ``notify`` at the same time only causes extra re-reads). The scheduler
is off in the bench servers (as with cron running ``xueji jobs run-due``): its per-minute notification
routing would otherwise go through the bench's rows at a random moment, inside one event's latency. Each
subscriber is a distinct registrar of one demo school with its own session, created with set-based SQL
(the demo registrar's password hash is copied, sessions store the SHA-256 of a random token), and one seeded
notification, so that the replay of ``notifications(after: 0)`` tells the client it is subscribed. The
event is one ``notify_users`` for every subscriber's account, run by this process on its own ``Runtime``
with the same database and Redis: latency is the client's receive time minus the time taken just before
the transaction began, so the INSERT, the commit and the N wake-ups published to Redis all count.

The clients are ``--workers`` processes (uvloop, plain ``websockets``, no client pings: uvicorn pings every
20 s and browsers only answer), each opening ``--batch`` subscriptions at a time: a slot covers TCP, the
upgrade, ``connection_init``/``connection_ack`` and the subscription's first message, so ``--batch`` times
``--workers`` is the size of the reconnect storm the server sees. They share the machine's cores with the
servers and this process, as in the issue's measurement; every phase prints the CPU seconds of the servers,
the clients, Redis, this process and everything else on the machine (other work there skews the figures).
Memory per idle connection is the server's RSS (with any children) once every subscriber is ready and the
servers were idle ``--settle`` seconds (Xueji: at least 16, so that its 15 s poll of the live feed falls in
the window), minus its RSS before the first connection, divided by N. Then ``--events`` events are sent
``--gap`` seconds apart, each once the previous one arrived everywhere (or ``--deadline`` passed); the events
are printed one by one (a full garbage collection of the server's millions of objects lands in some of them
and not in others) and the table shows each scenario's worst. A subscriber that missed an event counts as
infinitely late in the percentiles. A scenario in which a subscription could not be opened stops there and
prints the end of its servers' logs (``--log-dir`` keeps them). Exits 1 if any scenario failed, any
subscription could not be opened or was dropped, or any subscriber missed an event.

    .venv/bin/python bench/subscriptions.py [--subscribers 10000] [--scenario bare,xueji,...] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

import orjson

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
HOST = "127.0.0.1"  # loopback only; clients ignore proxy settings
SCHOOL_CODE = "2134010401"  # 合肥市蜀山区琥珀小学 in the demo province
TEMPLATE_USER = f"{SCHOOL_CODE}-reg"  # its demo registrar: the subscribers' password hash is copied from it
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
BARE_QUERY = "subscription { event { id sentAt } }"
XUEJI_QUERY = "subscription($after: Int!) { notifications(after: $after) { seq kind payload } }"
PROTOCOL = "graphql-transport-ws"
SCENARIOS = ("bare", "bare-deflate", "xueji", "xueji-2")
GOAL_P99_MS = 1000.0
GOAL_MEMORY_SHARE = 0.5
READY_SECONDS = 60.0  # a server answering its health check
SETUP_SECONDS = 600.0  # every subscriber of a scenario subscribed (or given up on)
CONNECT_SECONDS = 30.0  # one subscriber from TCP connect to its first message
GIVE_UP_AFTER = 100  # failed subscriptions after which a client worker opens no more
XUEJI_IDLE_SECONDS = 16.0  # longer than the live feed's 15 s poll: one poll round is in the idle window
T = TypeVar("T")


# --- processes ------------------------------------------------------------------------------------------


def raise_file_limit() -> None:
    """Allow as many sockets as the hard limit does (the soft limit is often 1,024)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux ``/proc``)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                pending += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, from ``VmRSS`` in ``/proc/<pid>/status``."""
    total = 0
    for member in process_tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        total += sum(int(line.split()[1]) for line in lines if line.startswith("VmRSS:"))
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its descendants."""
    total = 0.0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def machine_cpu_seconds() -> float:
    """CPU time every process of the machine used since boot, from ``/proc/stat``."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def pids_named(name: str) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/comm"):
        try:
            if stat.read_text().strip() == name:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return pids


@dataclass
class CpuMeter:
    """CPU seconds of the servers, the client workers, Redis, this process and everything else."""

    servers: list[int]
    clients: list[int]
    redis: list[int] = field(default_factory=lambda: pids_named("redis-server"))
    start: dict[str, float] = field(default_factory=dict)

    def sample(self) -> dict[str, float]:
        return {
            "server": sum(cpu_seconds(pid) for pid in self.servers),
            "clients": sum(cpu_seconds(pid) for pid in self.clients),
            "redis": sum(cpu_seconds(pid) for pid in self.redis),
            "bench": time.process_time(),
            "machine": machine_cpu_seconds(),
        }

    def begin(self) -> None:
        self.start = self.sample()

    def used(self) -> dict[str, float]:
        now = self.sample()
        used = {key: now[key] - self.start[key] for key in now}
        used["others"] = max(0.0, used.pop("machine") - sum(used.values()))
        return used


def describe_cpu(used: dict[str, float]) -> str:
    return "CPU s: " + ", ".join(f"{key} {value:.1f}" for key, value in used.items())


class ServerDied(RuntimeError):
    pass


class Server:
    """One server subprocess on a free loopback port, its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.command = [part.replace("{port}", str(self.port)) for part in command]
        self.env = env
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/graphql"

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, ready_path: str) -> None:
        """Start, and return once ``ready_path`` answers 200 (and, for Xueji, reports the broadcast up)."""
        import httpx

        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            self.check()
            try:
                response = httpx.get(self.http_url + ready_path, timeout=2, trust_env=False)
                if response.status_code == 200 and response.json().get("broadcast", "ok") == "ok":
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        raise ServerDied(f"{self.name} did not answer within {READY_SECONDS:.0f} s:\n{self.tail()}")

    def check(self) -> None:
        """Fail loudly, with the end of its log, if the server exited."""
        if self.process is not None and self.process.poll() is not None:
            raise ServerDied(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        """The end of the log without uvicorn's line per websocket opened."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        noise = ("connection open", "connection closed", '"WebSocket /graphql" [accepted]')
        return "\n".join([line for line in text if not line.endswith(noise)][-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@contextmanager
def running(servers: Sequence[Server], ready_path: str) -> Iterator[Sequence[Server]]:
    with ExitStack() as stack:
        for server in servers:
            stack.callback(server.stop)
            server.start(ready_path)
        yield servers


# --- clients (one process per worker) -------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What one client worker does: one subscriber per target (URL and ``connection_init`` payload)."""

    targets: list[tuple[str, dict[str, str]]]
    query: str
    variables: dict[str, Any]
    batch: int
    compression: bool


def event_of(payload: dict[str, Any]) -> tuple[int, float] | None:
    """(event number, sender's time) of a ``next`` payload, for the bare app's and Xueji's shapes."""
    for item in (payload.get("data") or {}).values():
        if not isinstance(item, dict):
            continue
        inner = item.get("payload")  # Xueji's event is the notification's payload
        body: dict[str, Any] = inner if isinstance(inner, dict) else item
        number, sent = body.get("bench", body.get("id")), body.get("sentAt")
        if isinstance(number, int) and isinstance(sent, int | float) and number > 0:
            return number, float(sent)
    return None


class ClientWorker:
    """Subscribers on one event loop; answers the parent's commands over a pipe."""

    def __init__(self, pipe: Connection, plan: Plan) -> None:
        self.pipe = pipe
        self.plan = plan
        self.latencies: dict[int, list[float]] = defaultdict(list)
        self.problems: list[str] = []
        self.failed = 0
        self.listeners: list[asyncio.Task[None]] = []
        self.arrived = asyncio.Event()

    def problem(self, text: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(text[:300])

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        slots = asyncio.Semaphore(self.plan.batch)
        await asyncio.gather(*(self.subscribe(url, init, slots) for url, init in self.plan.targets))
        ready = len(self.listeners)
        self.pipe.send(("ready", ready, self.problems[:3], self.failed, time.monotonic() - started))
        while True:
            command = await loop.run_in_executor(None, self.pipe.recv)
            if command[0] == "collect":
                _, number, seconds = command
                await self.collect(number, ready, seconds)
                self.pipe.send(("latencies", number, self.latencies.pop(number, []), self.problems[:3]))
            elif command[0] == "stop":
                lost = sum(task.done() for task in self.listeners)
                self.pipe.send(("stopped", self.failed, lost, self.problems[:3]))
                return

    async def subscribe(self, url: str, init: dict[str, str], slots: asyncio.Semaphore) -> None:
        """Open one subscription and start listening on it; counted as failed if it is not ready in time."""
        from websockets.asyncio.client import connect
        from websockets.typing import Subprotocol

        async with slots:
            if self.failed >= GIVE_UP_AFTER:
                return
            ws, stage = None, "connecting"
            try:
                async with asyncio.timeout(CONNECT_SECONDS):
                    ws = await connect(
                        url,
                        subprotocols=[Subprotocol(PROTOCOL)],
                        compression="deflate" if self.plan.compression else None,
                        proxy=None,
                        ping_interval=None,  # the server pings (uvicorn: every 20 s); browsers only answer
                        max_size=None,
                        open_timeout=None,
                    )
                    stage = "waiting for connection_ack"
                    await ws.send(orjson.dumps({"type": "connection_init", "payload": init}).decode())
                    ack = orjson.loads(await ws.recv())
                    if ack.get("type") != "connection_ack":
                        raise RuntimeError(f"expected connection_ack, got {ack}")
                    payload = {"query": self.plan.query, "variables": self.plan.variables}
                    stage = "waiting for the first next"
                    await ws.send(orjson.dumps({"type": "subscribe", "id": "1", "payload": payload}).decode())
                    while True:  # the first message (replay or ready marker) means the server subscribed
                        first = orjson.loads(await ws.recv())
                        if first.get("type") == "next" and not first["payload"].get("errors"):
                            break
                        if first.get("type") != "ping":
                            raise RuntimeError(f"expected the first next, got {first}")
                        await ws.send('{"type":"pong"}')
            except Exception as error:  # noqa: BLE001 - counted and reported, the others go on
                self.failed += 1
                self.problem(f"subscribe, {stage}: {type(error).__name__}: {error}")
                if ws is not None:
                    ws.transport.abort()
                return
        self.listeners.append(asyncio.create_task(self.listen(ws)))

    async def listen(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in ws:
                received = time.time()
                message = orjson.loads(raw)
                kind = message.get("type")
                if kind == "next":
                    if message["payload"].get("errors"):
                        self.problem(f"next with errors: {message['payload']['errors']}")
                    event = event_of(message["payload"])
                    if event is not None:
                        number, sent = event
                        self.latencies[number].append(received - sent)
                        self.arrived.set()
                elif kind == "ping":
                    await ws.send('{"type":"pong"}')
                else:
                    self.problem(f"unexpected {kind}: {str(raw)[:200]}")
                    return
        except ConnectionClosed as closed:
            self.problem(f"closed by the server: {closed}")

    async def collect(self, number: int, expected: int, seconds: float) -> None:
        """Until ``expected`` subscribers have event ``number``, or ``seconds`` passed."""
        deadline = time.monotonic() + seconds
        while len(self.latencies[number]) < expected and (left := deadline - time.monotonic()) > 0:
            self.arrived.clear()
            try:
                async with asyncio.timeout(min(left, 0.5)):
                    await self.arrived.wait()
            except TimeoutError:
                pass


def client_worker(pipe: Connection, plan: Plan) -> None:
    raise_file_limit()
    try:
        run(ClientWorker(pipe, plan).main())
    finally:
        pipe.close()
        os._exit(0)  # thousands of sockets need no closing handshake; the kernel closes them


# --- the parent's side of a scenario ---------------------------------------------------------------------


@dataclass
class Delivery:
    number: int
    expected: int
    latencies: list[float]
    note: str = ""

    def percentile(self, fraction: float) -> float:
        """In seconds; a subscriber that missed the event counts as infinitely late."""
        ordered = sorted(self.latencies) + [math.inf] * max(0, self.expected - len(self.latencies))
        if not ordered:
            return math.nan
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass
class Outcome:
    name: str
    subscribers: int
    servers: int
    compression: bool
    ready: int = 0
    failed: int = 0  # subscriptions that could not be opened
    lost: int = 0  # subscriptions the server ended or dropped after they were ready
    setup_seconds: float = 0.0
    kib_per_connection: float = math.nan
    idle_cpu: float = math.nan
    deliveries: list[Delivery] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def worst(self) -> Delivery | None:
        return max(self.deliveries, key=lambda d: (d.percentile(0.99), d.percentile(1.0)), default=None)

    @property
    def missed(self) -> int:
        return sum(d.expected - len(d.latencies) for d in self.deliveries)

    @property
    def ok(self) -> bool:
        return not self.error and self.ready == self.subscribers and not self.missed and not self.lost

    def note(self, problems: list[str]) -> None:
        self.problems += [p for p in problems if p not in self.problems][:10]


class Clients:
    """The client worker processes of one scenario."""

    def __init__(self, plans: list[Plan], servers: Sequence[Server]) -> None:
        context = multiprocessing.get_context("spawn")
        self.servers = servers
        self.pipes: list[Connection] = []
        self.processes: list[Any] = []
        for plan in plans:
            parent, child = context.Pipe()
            process = context.Process(target=client_worker, args=(child, plan), daemon=True)
            process.start()
            child.close()
            self.pipes.append(parent)
            self.processes.append(process)

    async def receive(self, pipe: Connection, seconds: float) -> Any:
        deadline = time.monotonic() + seconds
        try:
            while not await asyncio.to_thread(pipe.poll, 0.5):
                for server in self.servers:
                    server.check()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no answer from a client worker within {seconds:.0f} s")
            return pipe.recv()
        except EOFError:
            raise RuntimeError("a client worker died; see its traceback above") from None

    async def gather(self, seconds: float) -> list[Any]:
        return [await self.receive(pipe, seconds) for pipe in self.pipes]

    def send(self, *command: Any) -> None:
        for pipe in self.pipes:
            pipe.send(command)

    def close(self) -> None:
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)


def split(targets: list[tuple[str, dict[str, str]]], workers: int) -> list[list[tuple[str, dict[str, str]]]]:
    return [targets[i::workers] for i in range(workers) if targets[i::workers]]


Fire = Callable[[int], Awaitable[str]]


async def measure(
    outcome: Outcome,
    servers: Sequence[Server],
    targets: list[tuple[str, dict[str, str]]],
    query: str,
    variables: dict[str, Any],
    fire: Fire,
    args: argparse.Namespace,
    idle_seconds: float,
    check: Callable[[], Awaitable[str]] | None = None,
) -> None:
    """Subscribe every target, measure idle memory, then send the events and collect the latencies.

    ``check``, after each event, returns what went wrong on the servers' side meanwhile, if anything.
    """
    before = sum(rss_kib(server.pid) for server in servers)
    plans = [
        Plan(chunk, query, variables, args.batch, outcome.compression)
        for chunk in split(targets, args.workers)
    ]
    clients = Clients(plans, servers)
    cpu = CpuMeter([server.pid for server in servers], [process.pid for process in clients.processes])
    try:
        cpu.begin()
        started = time.monotonic()
        for _, ready, problems, failed, _ in await clients.gather(SETUP_SECONDS):
            outcome.ready += ready
            outcome.failed += failed
            outcome.note(problems)
        outcome.setup_seconds = time.monotonic() - started
        used = cpu.used()
        print(
            f"  {outcome.ready}/{outcome.subscribers} subscribed in {outcome.setup_seconds:.1f} s "
            f"({used['server'] / max(outcome.ready, 1) * 1000:.2f} ms server CPU each; {describe_cpu(used)})"
            + (f"; {outcome.failed} failed, first: {outcome.problems[0]}" if outcome.failed else ""),
            flush=True,
        )
        if outcome.failed:
            raise RuntimeError(f"{outcome.failed} subscription(s) failed; first: {outcome.problems[0]}")
        cpu.begin()
        await asyncio.sleep(idle_seconds)
        outcome.idle_cpu = cpu.used()["server"] / idle_seconds
        after = sum(rss_kib(server.pid) for server in servers)
        outcome.kib_per_connection = (after - before) / max(outcome.ready, 1)
        print(
            f"  server RSS {before / 1024:.0f} MiB -> {after / 1024:.0f} MiB after {idle_seconds:g} s idle: "
            f"{outcome.kib_per_connection:.1f} KiB per connection; idle server CPU {outcome.idle_cpu:.0%}",
            flush=True,
        )
        for number in range(1, args.events + 1):
            if number > 1:
                await asyncio.sleep(args.gap)
            cpu.begin()
            note = await fire(number)
            clients.send("collect", number, args.deadline)
            latencies: list[float] = []
            for _, _, got, problems in await clients.gather(args.deadline + 30):
                latencies += got
                outcome.note(problems)
            if check is not None and (trouble := await check()):
                note += f"; {trouble}"
            delivery = Delivery(number, outcome.subscribers, latencies, note)
            outcome.deliveries.append(delivery)
            print(
                f"  event {number}: {len(latencies)}/{outcome.subscribers} received, "
                f"p50 {ms(delivery.percentile(0.5), args.deadline)}, "
                f"p99 {ms(delivery.percentile(0.99), args.deadline)}, "
                f"max {ms(delivery.percentile(1.0), args.deadline)} ms; {note}; {describe_cpu(cpu.used())}",
                flush=True,
            )
        clients.send("stop")
        for _, _, lost, problems in await clients.gather(30):
            outcome.lost += lost
            outcome.note(problems)
    finally:
        clients.close()
        if not outcome.ok or sys.exc_info()[0] is not None:
            for server in servers:
                print(f"  --- end of {server.log_path.name}:\n{server.tail(30)}", file=sys.stderr, flush=True)


def ms(seconds: float, deadline: float) -> str:
    if math.isnan(seconds):
        return "-"
    if math.isinf(seconds):
        return f">{deadline * 1000:.0f}"
    return f"{seconds * 1000:.0f}"


# --- the bare baseline ----------------------------------------------------------------------------------


async def run_bare(outcome: Outcome, args: argparse.Namespace, log_dir: Path) -> None:
    import httpx

    compression = "deflate" if outcome.compression else "off"
    print(
        f"\n{outcome.name}: {outcome.subscribers} subscribers, client compression {compression}", flush=True
    )
    command = [sys.executable, "-m", "uvicorn", "--factory", "--app-dir", str(BENCH)]
    command += ["bare_subscriptions:create_app", "--host", HOST, "--port", "{port}"]
    command += ["--workers", "1", "--no-access-log", "--log-level", "warning"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("XUEJI_")}
    with running([Server("bare", command, env, log_dir)], "/count") as servers:
        base = servers[0].http_url
        async with httpx.AsyncClient(base_url=base, timeout=60, trust_env=False) as http:

            async def fire(number: int) -> str:
                sent = time.time()
                response = await http.post("/publish", json={"id": number, "sentAt": sent})
                response.raise_for_status()
                return f"POST /publish answered in {(time.time() - sent) * 1000:.0f} ms"

            targets: list[tuple[str, dict[str, str]]] = [(servers[0].ws_url, {})] * outcome.subscribers
            await measure(outcome, servers, targets, BARE_QUERY, {}, fire, args, args.settle)


# --- Xueji ----------------------------------------------------------------------------------------------


def xueji_env(var_dir: Path, database_url: str, redis_url: str) -> dict[str, str]:
    """The process environment without any XUEJI_* setting, plus the bench's database and Redis."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("XUEJI_")}
    env.update(
        XUEJI_VAR_DIR=str(var_dir),
        XUEJI_DATABASE_URL=database_url,
        XUEJI_BROADCAST_URL=redis_url,
        XUEJI_PRODUCTION="false",
        XUEJI_SCHEDULER_ENABLED="false",
    )
    return env


def prepare_database(env: dict[str, str]) -> None:
    for command in (["db", "upgrade"], ["demo", "load"]):
        print(f"$ xueji {' '.join(command)}", flush=True)
        subprocess.run(
            [sys.executable, "-m", "backend.cli", *command],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )


@asynccontextmanager
async def bench_database(option: str | None, tmp: Path) -> AsyncIterator[str]:
    """A temporary SQLite file, or a fresh database on the PostgreSQL server of ``option``, dropped after."""
    if not option:
        yield f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}"
        return
    from sqlalchemy import make_url, text
    from sqlalchemy.ext.asyncio import create_async_engine

    if not option.startswith("postgresql"):
        raise SystemExit(
            "--database-url: a PostgreSQL server URL, e.g. postgresql+asyncpg://postgres@127.0.0.1/"
        )
    server = make_url(option)
    name = f"xueji_bench_{secrets.token_hex(4)}"
    admin = create_async_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def create_subscribers(env: dict[str, str], prefix: str, count: int) -> list[tuple[int, str]]:
    """``count`` registrars of the demo school, each with a session and one notification: (user id, token).

    Set-based, in one transaction: no argon2 per account (the demo registrar's hash is copied) and no
    service calls; only what the models and ``hash_token`` say a session row holds.
    """
    from datetime import timedelta

    from sqlalchemy import insert, literal, select

    from backend.clock import SystemClock
    from backend.config import load_settings
    from backend.db import Database
    from backend.domain.accounts.service import hash_token
    from backend.domain.notifications.log import NotificationKind, notify_users
    from backend.models import AuthSession, Unit, User, UserRole
    from backend.models.enums import Role

    settings = load_settings(env=env)
    db = Database(settings.database_url)
    try:
        async with db.unit_of_work(SystemClock(), settings) as uow:  # no publisher: no one listens yet
            session, now = uow.session, uow.clock.now()
            unit_id = await session.scalar(select(Unit.id).where(Unit.code == SCHOOL_CODE))
            password_hash = await session.scalar(
                select(User.password_hash).where(User.username == TEMPLATE_USER)
            )
            if unit_id is None or password_hash is None:
                raise RuntimeError(f"the demo province has no school {SCHOOL_CODE} or user {TEMPLATE_USER}")
            users = [
                {
                    "username": f"{prefix}-{i:05d}",
                    "display_name": f"压测{i}",
                    "unit_id": unit_id,
                    "password_hash": password_hash,
                    "password_changed_at": now,
                    "must_change_password": False,
                    "failed_attempts": 0,
                    "is_active": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(count)
            ]
            await session.execute(insert(User), users)
            mine = select(User.id).where(User.username.like(f"{prefix}-%"))
            ids = list((await session.scalars(mine.order_by(User.id))).all())
            await session.execute(
                insert(UserRole).from_select(
                    ["user_id", "role"],
                    select(User.id, literal(Role.REGISTRAR, UserRole.role.type)).where(
                        User.username.like(f"{prefix}-%")
                    ),
                )
            )
            tokens = [secrets.token_urlsafe(32) for _ in ids]
            expires = now + timedelta(hours=settings.session_max_hours)
            await session.execute(
                insert(AuthSession),
                [
                    {
                        "token_hash": hash_token(token),
                        "user_id": user_id,
                        "created_at": now,
                        "last_seen_at": now,
                        "expires_at": expires,
                        "user_agent": "bench/subscriptions.py",
                    }
                    for user_id, token in zip(ids, tokens, strict=True)
                ],
            )
            await notify_users(uow, ids, NotificationKind.ANNOUNCEMENT, {"bench": 0})
    finally:
        await db.dispose()
    return list(zip(ids, tokens, strict=True))


@asynccontextmanager
async def publisher(env: dict[str, str]) -> AsyncIterator[Callable[[list[int], int], Awaitable[str]]]:
    """This process's own ``Runtime`` on the servers' database and Redis, sending one announcement."""
    from backend.config import load_settings
    from backend.domain.notifications.log import NotificationKind, notify_users
    from backend.runtime import Runtime

    published: dict[str, float] = {}  # when the first wake-up went out (right after the commit), the last

    class TimedRuntime(Runtime):
        async def publish(self, channel: str, message: str) -> None:
            published.setdefault("first", time.time())
            await super().publish(channel, message)
            published["last"] = time.time()

    runtime = TimedRuntime.build(load_settings(env=env))
    await runtime.hub.connect()
    if not getattr(runtime.hub, "healthy", True):  # events would then reach no other process
        await runtime.hub.disconnect()
        raise RuntimeError(f"the broadcast {env['XUEJI_BROADCAST_URL']} cannot be reached")

    async def announce(user_ids: list[int], number: int) -> str:
        published.clear()
        outages = getattr(runtime.hub, "outages", 0)
        sent = time.time()
        async with runtime.unit_of_work() as uow:
            written = await notify_users(
                uow, user_ids, NotificationKind.ANNOUNCEMENT, {"sentAt": sent, "bench": number}
            )
            inserted = time.time()
        if written != len(user_ids):
            raise RuntimeError(f"notify_users wrote {written} rows for {len(user_ids)} users")
        first, last = published.get("first", math.nan), published.get("last", math.nan)
        note = (
            f"INSERT {(inserted - sent) * 1000:.0f} ms, commit {(first - inserted) * 1000:.0f} ms, "
            f"{written} wake-ups published in {(last - first) * 1000:.0f} ms"
        )
        if not getattr(runtime.hub, "healthy", True) or getattr(runtime.hub, "outages", 0) != outages:
            note += " (this process's broadcast was down: the servers can only find it by polling)"
        return note

    try:
        yield announce
    finally:
        await runtime.hub.disconnect()
        await runtime.db.dispose()


async def broadcast_outages(server: Server) -> int:
    """How often the server's hub lost Redis since it started (``/healthz``), 0 if it does not say."""
    import httpx

    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        response = await http.get(server.http_url + "/healthz")
    return int(response.json().get("broadcastOutages", 0))


async def run_xueji(outcome: Outcome, args: argparse.Namespace, env: dict[str, str], log_dir: Path) -> None:
    processes = outcome.servers
    print(
        f"\n{outcome.name}: {outcome.subscribers} subscribers on {processes} server process(es), "
        f"broadcast {args.redis_url}",
        flush=True,
    )
    accounts = await create_subscribers(env, f"bench{secrets.token_hex(3)}", outcome.subscribers)
    command = [sys.executable, "-m", "backend.cli", "serve", "--host", HOST, "--port", "{port}"]
    servers = [Server(f"xueji{i + 1}", command, env, log_dir) for i in range(processes)]
    with running(servers, "/healthz"):
        targets = [
            (servers[i % processes].ws_url, {"Authorization": f"Bearer {token}"})
            for i, (_, token) in enumerate(accounts)
        ]
        user_ids = [user_id for user_id, _ in accounts]
        async with publisher(env) as announce:

            async def fire(number: int) -> str:
                return await announce(user_ids, number)

            outages = [await broadcast_outages(server) for server in servers]

            async def check() -> str:
                """Whether a server lost its broadcast (an event then arrives by the 15 s poll)."""
                now = [await broadcast_outages(server) for server in servers]
                lost = sum(b - a for a, b in zip(outages, now, strict=True))
                outages[:] = now
                return f"{lost} broadcast outage(s) on the servers" if lost else ""

            idle = max(args.settle, XUEJI_IDLE_SECONDS)
            await measure(outcome, servers, targets, XUEJI_QUERY, {"after": 0}, fire, args, idle, check)


# --- report ---------------------------------------------------------------------------------------------


def report(outcomes: list[Outcome], deadline: float) -> None:
    """One row per scenario with its worst event; the issue's goals next to Xueji's figures."""
    bare = {o.subscribers: o for o in outcomes if o.name == "bare" and o.ok}
    deflate = next((o for o in outcomes if o.name == "bare-deflate" and o.ok), None)
    head = "scenario subscribers servers subscribed setup_s KiB/conn idle_CPU received p50_ms p99_ms max_ms"
    rows = [[name.replace("_", " ") for name in (*head.split(), "goals")]]
    for o in outcomes:
        worst = o.worst
        received = min((len(d.latencies) for d in o.deliveries), default=0)
        goals = []
        if o.name.startswith("xueji") and worst is not None:
            p99 = worst.percentile(0.99) * 1000
            goals.append(f"p99<{GOAL_P99_MS:.0f}ms: {'met' if p99 < GOAL_P99_MS else 'NOT met'}")
            for reference, label in ((deflate, "bare-deflate"), (bare.get(o.subscribers), "bare")):
                if reference is not None:
                    limit = reference.kib_per_connection * GOAL_MEMORY_SHARE
                    verdict = "met" if o.kib_per_connection <= limit else "NOT met"
                    goals.append(f"KiB/conn<={limit:.1f} (half {label}): {verdict}")
        if o.error:
            goals.append(f"FAILED: {o.error}"[:100])
        elif not o.ok:
            goals.append(f"FAILED: {o.failed} not subscribed, {o.lost} dropped, {o.missed} missed")
        rows.append(
            [
                o.name,
                str(o.subscribers),
                str(o.servers),
                str(o.ready),
                f"{o.setup_seconds:.1f}",
                "-" if math.isnan(o.kib_per_connection) else f"{o.kib_per_connection:.1f}",
                "-" if math.isnan(o.idle_cpu) else f"{o.idle_cpu:.0%}",
                f"{received}/{o.subscribers}" if o.deliveries else "-",
                ms(worst.percentile(0.5), deadline) if worst else "-",
                ms(worst.percentile(0.99), deadline) if worst else "-",
                ms(worst.percentile(1.0), deadline) if worst else "-",
                "; ".join(goals),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.rjust(width) for cell, width in zip(row, widths, strict=True)]
        cells[0], cells[-1] = row[0].ljust(widths[0]), row[-1]
        print("  ".join(cells).rstrip())
    print(
        "\nLatencies: the worst of each scenario's events. KiB/conn: (server RSS, all subscribed and idle, "
        "minus RSS before) / N; its goal is half the\nbaseline's: bare-deflate's (the same clients as "
        "Xueji's, offering permessage-deflate like browsers:\nthe issue's ~88 KB/conn); half of bare's "
        "(clients with compression off) is shown too. The issue measured the bare\napp at 5,000: p50 380 ms, "
        "p99 1.1 s."
    )


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is installed (it comes with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


async def attempt(outcome: Outcome, scenario: Awaitable[None]) -> Outcome:
    """Run one scenario; its failure is reported and recorded, and the next scenario still runs."""
    try:
        await scenario
    except Exception as error:  # noqa: BLE001 - one broken scenario must not hide the others' figures
        outcome.error = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        print(f"  FAILED: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
    return outcome


async def bench(args: argparse.Namespace) -> list[Outcome]:
    n = args.subscribers
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="xueji-bench-") as tmp:
        tmp_dir = Path(tmp)
        log_dir = Path(args.log_dir) if args.log_dir else tmp_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        if "bare" in args.scenario:
            for count in (n // 2, n):
                outcomes.append(
                    await attempt(o := Outcome("bare", count, 1, False), run_bare(o, args, log_dir))
                )
        if "bare-deflate" in args.scenario:
            o = Outcome("bare-deflate", n // 2, 1, True)
            outcomes.append(await attempt(o, run_bare(o, args, log_dir)))
        if {"xueji", "xueji-2"} & set(args.scenario):
            async with AsyncExitStack() as stack:
                url = await stack.enter_async_context(bench_database(args.database_url, tmp_dir))
                env = xueji_env(tmp_dir / "var", url, args.redis_url)
                prepare_database(env)
                for name, processes in (("xueji", 1), ("xueji-2", 2)):
                    if name in args.scenario:
                        o = Outcome(name, n, processes, True)
                        outcomes.append(await attempt(o, run_xueji(o, args, env, log_dir)))
    return outcomes


def scenarios(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--subscribers", type=int, default=10_000, help="N (bare also runs N/2)")
    parser.add_argument(
        "--scenario", type=scenarios, default=list(SCENARIOS), help=f"comma-separated: {','.join(SCENARIOS)}"
    )
    parser.add_argument("--database-url", help="a PostgreSQL server to create the bench database on")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help="Xueji's broadcast")
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument(
        "--batch", type=int, default=200, help="connections being opened at a time, per worker"
    )
    parser.add_argument("--events", type=int, default=3, help="events per scenario")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between events")
    parser.add_argument("--settle", type=float, default=3.0, help="idle seconds before measuring memory")
    parser.add_argument("--deadline", type=float, default=30.0, help="seconds an event may take to arrive")
    parser.add_argument("--log-dir", help="keep the servers' logs here (default: a temporary folder)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    raise_file_limit()
    print(
        f"{os.cpu_count()} CPUs; clients: {args.workers} processes, {args.batch} handshakes at a time each, "
        "offering permessage-deflate (except in bare), no client pings"
    )
    outcomes = run(bench(args))
    print()
    report(outcomes, args.deadline)
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        print(
            f"\n{o.name} ({o.subscribers}): {o.error or 'ran'}; {o.subscribers - o.ready} not subscribed, "
            f"{o.lost} dropped after subscribing, {o.missed} deliveries missed; problems: {o.problems[:3]}",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
