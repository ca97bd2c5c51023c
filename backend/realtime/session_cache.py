"""A short-lived, per-process cache of resolved sessions, invalidated across processes.

Every request must know who is calling; asking the database each time costs more than the rest of a
small query. A resolved session is therefore kept for ``TTL`` seconds. Whatever ends or changes a
session (sign-out, password change, role change, deactivation, delegation revoked) notifies channel
``auth`` after commit (``backend.domain.accounts.events``), and every process evicts that user's
entries at once. If the broadcast is down, an entry still lapses after ``TTL``; expiry and the idle
timeout are re-checked on every hit.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from backend.domain.accounts.events import AUTH_CHANNEL

if TYPE_CHECKING:
    from backend.domain.accounts.service import ResolvedSession
    from backend.realtime.hub import Hub

TTL = timedelta(seconds=5)
MAX_ENTRIES = 50_000


@dataclass(frozen=True)
class _Entry:
    resolved: ResolvedSession
    cached_at: datetime
    user_ids: frozenset[int]


class SessionCache:
    def __init__(self) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def get(self, token_hash: str, now: datetime) -> ResolvedSession | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if now - entry.cached_at >= TTL or now < entry.cached_at:
            del self._entries[token_hash]
            return None
        return entry.resolved

    def put(self, token_hash: str, resolved: ResolvedSession, now: datetime) -> None:
        actor = resolved.actor
        users = frozenset(u for u in (actor.user_id, actor.delegate_id, resolved.person.id) if u is not None)
        self._entries[token_hash] = _Entry(resolved, now, users)
        self._entries.move_to_end(token_hash)
        # Oldest first: drop what has lapsed (ten thousand sockets opening must not leave ten thousand
        # resolved users and units behind), and the oldest beyond the cap.
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if len(self._entries) <= MAX_ENTRIES and now - oldest.cached_at < TTL:
                break
            self._entries.popitem(last=False)

    def evict_user(self, user_id: int) -> None:
        for key in [k for k, e in self._entries.items() if user_id in e.user_ids]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()

    def handle(self, message: str) -> None:
        kind, _, value = message.partition(":")
        if kind == "user" and value.isdigit():
            self.evict_user(int(value))

    def attach(self, hub: Hub) -> None:
        """Evict on every ``auth`` notice; after a broadcast outage forget everything (notices were lost)."""
        hub.listen(AUTH_CHANNEL, self.handle)
        hub.on_recovery(self.clear)
