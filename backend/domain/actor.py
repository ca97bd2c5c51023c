"""Who is acting: the signed-in user in one unit with one set of roles.

An ``Actor`` is resolved once per request from the session token and handed to every service as
``actor=``. Under a delegation (SEC-2) the actor carries the grantor's unit and roles and the grantee as
``delegate_id``, so every action is attributed to the person who really took it.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.models.enums import Role, UnitKind


@dataclass(frozen=True)
class Actor:
    user_id: int
    username: str
    unit_id: int
    unit_path: str
    unit_kind: UnitKind
    roles: frozenset[Role]
    session_id: int | None = None
    delegate_id: int | None = None
    ip: str | None = None
    # Set while the password must be changed (first sign-in, reset, expiry): only the own account is open.
    password_change_required: bool = False

    def has_role(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)

    @property
    def primary_role(self) -> Role | None:
        """The role recorded in the audit log: the first held in ORG-2 order."""
        for role in Role:
            if role in self.roles:
                return role
        return None

    def covers_path(self, path: str) -> bool:
        """Whether a unit with materialised ``path`` lies in this actor's subtree (ORG-3)."""
        return path.startswith(self.unit_path)


@dataclass(frozen=True)
class SystemActor:
    """The system itself (sweeps, scheduled jobs, the operator's CLI); audited with no user.

    Authorization lets it through: whoever can run it already holds the server and the database.
    """

    name: str = "system"
    user_id: None = None
