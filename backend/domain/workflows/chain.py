"""The tamper-evident action log (SEC-3), with no I/O.

Each action's hash is ``sha256(previous_hash + canonical JSON of its fields)``; the first action's previous
hash is ``GENESIS``. The canonical JSON has sorted keys, no spaces and UTF-8 text, and ``at`` is the UTC
instant in ISO 8601, so the same row hashes the same on SQLite and PostgreSQL. Editing any hashed field of
any action, or removing one from the middle, breaks every later link.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Protocol

from backend.models import WorkflowAction
from backend.models.enums import Role


class ActionFields(Protocol):
    """What an action's hash covers; a ``WorkflowAction`` row, or a plain record of one (bulk sweeps)."""

    @property
    def instance_id(self) -> int: ...
    @property
    def position(self) -> int | None: ...
    @property
    def action(self) -> str: ...
    @property
    def user_id(self) -> int | None: ...
    @property
    def delegate_id(self) -> int | None: ...
    @property
    def role(self) -> Role | None: ...
    @property
    def unit_id(self) -> int | None: ...
    @property
    def at(self) -> datetime: ...
    @property
    def comment(self) -> str | None: ...
    @property
    def attachment_ids(self) -> list[int]: ...


GENESIS = "0" * 64


def canonical_fields(action: ActionFields) -> dict[str, Any]:
    """The fields an action's hash covers: who did what, in which role and unit, when, and why."""
    return {
        "instance": action.instance_id,
        "position": action.position,
        "action": action.action,
        "user": action.user_id,
        "delegate": action.delegate_id,
        "role": None if action.role is None else str(action.role),
        "unit": action.unit_id,
        "at": _iso(action.at),
        "comment": action.comment,
        "attachments": list(action.attachment_ids or []),
    }


def action_hash(previous_hash: str, action: ActionFields) -> str:
    payload = json.dumps(canonical_fields(action), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((previous_hash + payload).encode("utf-8")).hexdigest()


def chain_is_intact(actions: list[WorkflowAction]) -> bool:
    """Whether ``actions`` (in insertion order) link from ``GENESIS`` and each hash matches its fields."""
    previous = GENESIS
    for action in actions:
        if action.previous_hash != previous or action.hash != action_hash(previous, action):
            return False
        previous = action.hash
    return True


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:  # SQLite hands back naive UTC; UTCDateTime normally fixes it already
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()
