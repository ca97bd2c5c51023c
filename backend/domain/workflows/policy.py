"""Who may see and act on a workflow instance (ORG-2, ORG-3).

``permissions.py`` has no workflow operation yet, so the engine checks here, with the same order and the
same answers as ``authorize``: an account without a business role is refused outright (FORBIDDEN — a
system administrator never approves, ORG-2), then an instance the actor cannot see answers NOT_FOUND, and
only then does the step decide (FORBIDDEN for a visible instance that is not the actor's to decide).

An instance is visible to everyone whose subtree holds its ``unit_path`` (the subject's school, ORG-3) and
to every unit that acts in one of its steps (a transfer's other school, a common superior).
"""

from __future__ import annotations

from collections.abc import Iterable

from backend.domain.actor import Actor
from backend.domain.errors import DomainError, ForbiddenError, NotFoundError
from backend.domain.permissions import BUSINESS_ROLES, Operation, authorize
from backend.models import WorkflowInstance, WorkflowStep
from backend.models.enums import Role


def require_business_actor(actor: Actor) -> None:
    """Refuse accounts without a business role (ORG-2) and sessions that must change their password first."""
    authorize(actor, Operation.ACT_ON_WORKFLOWS)


def business_roles(actor: Actor) -> frozenset[Role]:
    return actor.roles & BUSINESS_ROLES


def is_party(actor: Actor, unit_id: int | None, role: Role | None) -> bool:
    """Whether the actor acts for ``unit_id`` in ``role`` (and that role is a business one, ORG-2)."""
    return unit_id is not None and actor.unit_id == unit_id and role in business_roles(actor)


def can_see(actor: Actor, instance: WorkflowInstance, steps: Iterable[WorkflowStep]) -> bool:
    return actor.covers_path(instance.unit_path) or any(
        step.acting_unit_id == actor.unit_id for step in steps
    )


def refusal(actor: Actor, instance: WorkflowInstance, steps: Iterable[WorkflowStep]) -> DomainError:
    """FORBIDDEN for an instance the actor can see, NOT_FOUND for one it cannot (ORG-3)."""
    return ForbiddenError() if can_see(actor, instance, steps) else NotFoundError()


def comment_role(actor: Actor, steps: Iterable[WorkflowStep]) -> Role | None:
    """The role a comment is recorded in: the one the actor acts in for this instance, else its first."""
    for step in steps:
        if is_party(actor, step.acting_unit_id, step.acting_role):
            return step.acting_role
    for role in Role:
        if role in business_roles(actor):
            return role
    return None
