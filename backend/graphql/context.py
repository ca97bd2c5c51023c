"""Per-request context: the runtime, the caller, a read session and the DataLoaders.

The caller is resolved from ``Authorization: Bearer`` (HTTP) or the ``connection_init`` payload
(websocket) once per request and cached. Reads share one session for the whole operation, closed by the
``RequestScope`` extension; each mutation opens its own unit of work. Sibling fields resolve
concurrently, and a session allows one statement at a time, so reads take turns through ``reading()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from backend.domain.accounts.service import ResolvedSession, hash_token, resolve_session, touch_session
from backend.domain.actor import Actor
from backend.domain.errors import UnauthenticatedError
from backend.graphql.dataloaders import Loaders
from backend.runtime import Runtime

T = TypeVar("T")


def bearer_token(value: object) -> str | None:
    """The token from an ``Authorization`` value ("Bearer <token>"), or ``None``."""
    if not isinstance(value, str):
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass
class Context:
    runtime: Runtime
    request: Request | WebSocket
    response: Response | WebSocket | None = None
    connection_params: dict[str, Any] | None = None
    _auth: asyncio.Task[Actor | None] | None = None
    resolved: ResolvedSession | None = None  # the session behind the actor, once authenticated
    _session: AsyncSession | None = None
    _session_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def is_socket(self) -> bool:
        return isinstance(self.request, WebSocket)

    @property
    def client_ip(self) -> str | None:
        client = self.request.client
        return client.host if client else None

    @property
    def user_agent(self) -> str | None:
        return self.request.headers.get("user-agent")

    def token(self) -> str | None:
        if self.connection_params is not None:
            params = self.connection_params
            return bearer_token(params.get("Authorization") or params.get("authorization")) or (
                params.get("token") if isinstance(params.get("token"), str) else None
            )
        return bearer_token(self.request.headers.get("authorization"))

    async def actor(self) -> Actor | None:
        """The signed-in caller, or ``None`` without a token; an invalid token raises.

        Resolved once per request even when several fields ask at the same moment.
        """
        if self._auth is None:
            self._auth = asyncio.ensure_future(self._authenticate())
        return await asyncio.shield(self._auth)

    async def _authenticate(self) -> Actor | None:
        """From the process's session cache, else one read on the request's session.

        Writes only when ``last_seen_at`` is stale (at most every 30 seconds per session).
        """
        token = self.token()
        if token is None:
            return None
        runtime = self.runtime
        now = runtime.clock.now()
        key = hash_token(token)
        resolved = runtime.sessions.get(key, now)
        if resolved is None or not resolved.still_valid(now, runtime.settings):
            async with self.reading() as session:
                resolved = await resolve_session(
                    session, token, now=now, settings=runtime.settings, ip=self.client_ip
                )
            # Opening a socket is not activity (clients reconnect by themselves): it never keeps an idle
            # session alive, and ten thousand sockets reconnecting after a restart write nothing.
            if resolved.needs_touch and resolved.actor.session_id is not None and not self.is_socket:
                # Give the read connection back first: holding it while waiting for a second one lets a
                # burst of stale sessions take the whole pool and wait on itself.
                await self.end_reads()
                async with runtime.unit_of_work() as uow:
                    await touch_session(uow, resolved.actor.session_id)
                resolved = replace(resolved, needs_touch=False, last_seen_at=now)
            runtime.sessions.put(key, resolved, now)
        self.resolved = resolved
        self.loaders.user.prime(resolved.person.id, resolved.person)
        self.loaders.unit.prime(resolved.unit.id, resolved.unit)
        return replace(resolved.actor, ip=self.client_ip)

    async def require_actor(self) -> Actor:
        actor = await self.actor()
        if actor is None:
            raise UnauthenticatedError()
        return actor

    async def forget_actor(self) -> None:
        """Re-check the token on next use (subscriptions re-validate their session periodically)."""
        self._auth = None
        self.resolved = None
        await self.end_reads()

    async def end_reads(self) -> None:
        """End the read session so that later reads see what has been committed since.

        Called after a mutation commits: on SQLite a read transaction keeps the snapshot it began with.
        Closing detaches what was loaded without expiring it, and the loaders start afresh.
        """
        async with self._session_lock:
            if self._session is not None:
                await self._session.close()
                self._session = None
        self.__dict__.pop("loaders", None)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """The request's read session, one statement at a time."""
        async with self._session_lock:
            if self._session is None:
                self._session = self.runtime.db.sessionmaker()
            yield self._session

    async def query(self, fn: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        """Call the domain read ``fn(session, actor, *args, **kwargs)`` as the signed-in caller."""
        actor = await self.require_actor()
        async with self.reading() as session:
            return await fn(session, actor, *args, **kwargs)

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(self.reading)

    async def close(self) -> None:
        await self.end_reads()
