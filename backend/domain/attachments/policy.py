"""Who may store and read attachments (ORG-2, ORG-3).

Attachments are record business: registrars and leaders upload and read them, system administrators never
do (ORG-2). Reading is limited to the actor's subtree (ORG-3), and anything outside it is NOT_FOUND, like
an absent file. Until ``backend.domain.permissions`` gains operations for attachments, the rule lives here.
"""

from __future__ import annotations

from backend.domain.actor import Actor
from backend.domain.errors import ForbiddenError
from backend.domain.permissions import PasswordChangeRequiredError
from backend.models.enums import Role

ATTACHMENT_ROLES = (Role.REGISTRAR, Role.LEADER)


def authorize_attachments(actor: Actor) -> None:
    """Refuse unless the actor holds a business role and may act at all."""
    if not actor.has_role(*ATTACHMENT_ROLES):
        raise ForbiddenError()
    if actor.password_change_required:
        raise PasswordChangeRequiredError()
