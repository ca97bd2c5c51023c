"""Who may run continuation (REG-8, REG-9, ORG-2, ORG-3).

Importing a list, confirming candidates, exporting and completing it are a school registrar's work
(学籍管理员, REG-8 (1)–(3)); review (REG-8 (4)) belongs to the registration workflow, not here. A registrar
sees only its own school's imports (``repository.import_of_school``: NOT_FOUND otherwise). Until
``backend.domain.permissions`` gains continuation operations, the rule lives here.
"""

from __future__ import annotations

from backend.domain.actor import Actor
from backend.domain.errors import ForbiddenError
from backend.domain.permissions import PasswordChangeRequiredError
from backend.models.enums import Role, UnitKind


def authorize_continuation(actor: Actor) -> None:
    """Refuse unless the actor is a registrar at a school and may act at all."""
    if actor.unit_kind is not UnitKind.SCHOOL or not actor.has_role(Role.REGISTRAR):
        raise ForbiddenError()
    if actor.password_change_required:
        raise PasswordChangeRequiredError()
