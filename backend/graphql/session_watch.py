"""A subscription's session, re-checked when it may have changed instead of on every event.

Re-resolving the session on every wake-up would cost one read per subscriber per event (ten thousand
for one announcement) and, worse, touch ``last_seen_at`` so that an open socket kept an idle session alive.
A subscription instead re-checks, without touching, when its user's sessions changed (the ``auth``
channel: sign-out, password or role change, deactivation) and when the session would lapse by itself
(expiry, or the idle timeout counted from the user's last real request). A role or unit that changed
ends the subscription like a revoked session does: what it streams was chosen for the old roles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.domain.accounts.service import ResolvedSession, resolve_session
from backend.domain.actor import Actor
from backend.domain.errors import UnauthenticatedError
from backend.graphql.context import Context

MIN_WAIT = 1.0


@dataclass
class SessionWatch:
    ctx: Context
    actor: Actor
    lapses_at: datetime

    @classmethod
    async def begin(cls, ctx: Context) -> SessionWatch:
        """From the session the socket was accepted with (no read), else resolved now."""
        actor = await ctx.require_actor()
        resolved = ctx.resolved or await _resolve(ctx)
        ctx.resolved = None  # a socket may stay for hours: keep the dates, not the loaded user and unit
        return cls(ctx, actor, _lapse(ctx, resolved))

    def seconds_left(self) -> float:
        """How long the subscription may wait before the session must be looked at again."""
        left = (self.lapses_at - self.ctx.runtime.clock.now()).total_seconds()
        return max(left, MIN_WAIT)

    def lapsed(self) -> bool:
        return self.ctx.runtime.clock.now() >= self.lapses_at

    async def check(self) -> None:
        """Raise the session's error if it ended, or ``UnauthenticatedError`` if its roles changed."""
        resolved = await _resolve(self.ctx)
        now = resolved.actor
        if (now.user_id, now.unit_id, now.roles) != (
            self.actor.user_id,
            self.actor.unit_id,
            self.actor.roles,
        ):
            raise UnauthenticatedError()
        self.lapses_at = _lapse(self.ctx, resolved)


async def _resolve(ctx: Context) -> ResolvedSession:
    token = ctx.token()
    if token is None:
        raise UnauthenticatedError()
    runtime = ctx.runtime
    try:
        async with ctx.reading() as session:
            return await resolve_session(
                session, token, now=runtime.clock.now(), settings=runtime.settings, ip=ctx.client_ip
            )
    finally:
        await ctx.end_reads()


def _lapse(ctx: Context, resolved: ResolvedSession) -> datetime:
    idle = timedelta(minutes=ctx.runtime.settings.idle_timeout_minutes)
    return min(resolved.expires_at, resolved.last_seen_at + idle)
