"""Who may do what, in one place (ORG-2, ORG-3).

Every operation the system offers is an ``Operation`` with a ``Policy``: the roles that may perform it, the
unit kinds it is performed from, and how far its reach goes. Services call ``authorize`` before acting;
the GraphQL layer names each field's operation, and the permission-matrix test is generated from those
names. System administrators hold configuration operations only, never business ones (ORG-2).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from backend.domain.actor import Actor, SystemActor
from backend.domain.errors import DomainError, ForbiddenError, NotFoundError
from backend.models.enums import Role, UnitKind


class Capacity(enum.StrEnum):
    ACCOUNT = "ACCOUNT"  # one's own account and session
    INFORMATION = "INFORMATION"  # shared reference data: the tree, the calendar
    BUSINESS = "BUSINESS"  # record business: registrars and leaders (ORG-2)
    CONFIGURATION = "CONFIGURATION"  # system administration, never business (ORG-2)
    OVERSIGHT = "OVERSIGHT"  # department leaders querying and analysing (ORG-2, SEC-7)


class Reach(enum.StrEnum):
    SUBTREE = "SUBTREE"  # own unit and everything below (ORG-3)
    BELOW = "BELOW"  # strictly below the own unit: a level is managed from above
    OWN_UNIT = "OWN_UNIT"  # the own unit only


class Operation(enum.StrEnum):
    VIEW_OWN_ACCOUNT = "VIEW_OWN_ACCOUNT"
    VIEW_UNITS = "VIEW_UNITS"
    VIEW_CALENDAR = "VIEW_CALENDAR"
    MANAGE_UNITS = "MANAGE_UNITS"
    VIEW_USERS = "VIEW_USERS"
    MANAGE_USERS = "MANAGE_USERS"
    MANAGE_DELEGATIONS = "MANAGE_DELEGATIONS"
    MANAGE_CALENDAR = "MANAGE_CALENDAR"
    READ_AUDIT_LOG = "READ_AUDIT_LOG"
    VIEW_STUDENTS = "VIEW_STUDENTS"
    MANAGE_RECORDS = "MANAGE_RECORDS"
    REVEAL_ID_NUMBERS = "REVEAL_ID_NUMBERS"
    HANDLE_PROBLEMS = "HANDLE_PROBLEMS"
    MANAGE_CONTROLLED_FIELDS = "MANAGE_CONTROLLED_FIELDS"
    VIEW_CONFIGURATION = "VIEW_CONFIGURATION"
    CONFIGURE_PROVINCE = "CONFIGURE_PROVINCE"
    ACT_ON_WORKFLOWS = "ACT_ON_WORKFLOWS"
    USE_ATTACHMENTS = "USE_ATTACHMENTS"


ALL_ROLES = frozenset(Role)
ADMINISTRATORS = frozenset(
    {Role.SYSTEM_ADMINISTRATOR, Role.SUPER_ADMINISTRATOR, Role.RECORD_SYSTEM_ADMINISTRATOR}
)
BUSINESS_ROLES = frozenset({Role.REGISTRAR, Role.LEADER})
DEPARTMENTS = frozenset({UnitKind.MINISTRY, UnitKind.PROVINCE, UnitKind.CITY, UnitKind.COUNTY})
ALL_UNIT_KINDS = frozenset(UnitKind)


@dataclass(frozen=True)
class Policy:
    capacity: Capacity
    roles: frozenset[Role]
    unit_kinds: frozenset[UnitKind] = ALL_UNIT_KINDS
    reach: Reach = Reach.SUBTREE


POLICIES: dict[Operation, Policy] = {
    Operation.VIEW_OWN_ACCOUNT: Policy(Capacity.ACCOUNT, ALL_ROLES, reach=Reach.OWN_UNIT),
    Operation.VIEW_UNITS: Policy(Capacity.INFORMATION, ALL_ROLES),
    Operation.VIEW_CALENDAR: Policy(Capacity.INFORMATION, ALL_ROLES),
    Operation.MANAGE_UNITS: Policy(
        Capacity.CONFIGURATION,
        frozenset({Role.SYSTEM_ADMINISTRATOR, Role.SUPER_ADMINISTRATOR}),
        DEPARTMENTS,
        Reach.BELOW,
    ),
    Operation.VIEW_USERS: Policy(Capacity.CONFIGURATION, ADMINISTRATORS | {Role.LEADER}),
    Operation.MANAGE_USERS: Policy(Capacity.CONFIGURATION, ADMINISTRATORS),
    Operation.MANAGE_DELEGATIONS: Policy(
        Capacity.CONFIGURATION, frozenset({Role.SYSTEM_ADMINISTRATOR}), reach=Reach.OWN_UNIT
    ),
    Operation.MANAGE_CALENDAR: Policy(
        Capacity.CONFIGURATION,
        frozenset({Role.SYSTEM_ADMINISTRATOR}),
        frozenset({UnitKind.MINISTRY, UnitKind.PROVINCE}),
    ),
    Operation.READ_AUDIT_LOG: Policy(Capacity.OVERSIGHT, frozenset({Role.LEADER}), DEPARTMENTS),
    Operation.VIEW_STUDENTS: Policy(Capacity.BUSINESS, BUSINESS_ROLES),
    # A school's registrar enters and maintains its own students (ORG-2, ORG-3).
    Operation.MANAGE_RECORDS: Policy(
        Capacity.BUSINESS, frozenset({Role.REGISTRAR}), frozenset({UnitKind.SCHOOL}), Reach.OWN_UNIT
    ),
    Operation.REVEAL_ID_NUMBERS: Policy(Capacity.BUSINESS, BUSINESS_ROLES),
    # Reviews are business: registrars and leaders act on the steps that wait on their unit and role.
    Operation.ACT_ON_WORKFLOWS: Policy(Capacity.BUSINESS, BUSINESS_ROLES),
    # Photos, proof and lists are record business: uploaded and read within jurisdiction (ORG-2, ORG-3).
    Operation.USE_ATTACHMENTS: Policy(Capacity.BUSINESS, BUSINESS_ROLES),
    # Schools supply evidence, departments confirm, the common superior arbitrates (PRB-1..3).
    Operation.HANDLE_PROBLEMS: Policy(Capacity.BUSINESS, frozenset({Role.REGISTRAR})),
    # Each level's department defines its own controlled fields (CHG-1, CFG-3): configuration.
    Operation.MANAGE_CONTROLLED_FIELDS: Policy(
        Capacity.CONFIGURATION, frozenset({Role.SYSTEM_ADMINISTRATOR}), DEPARTMENTS, Reach.OWN_UNIT
    ),
    # The configuration a unit works under (the controlled fields in force, its province's windows and
    # switches) is information for its registrars, leaders and administrators (CHG-1, CFG-2).
    Operation.VIEW_CONFIGURATION: Policy(Capacity.INFORMATION, BUSINESS_ROLES | {Role.SYSTEM_ADMINISTRATOR}),
    # A province's windows and switches are set by its own system administrator (ORG-2, CFG-2, CFG-3).
    Operation.CONFIGURE_PROVINCE: Policy(
        Capacity.CONFIGURATION,
        frozenset({Role.SYSTEM_ADMINISTRATOR}),
        frozenset({UnitKind.PROVINCE}),
        Reach.OWN_UNIT,
    ),
}


class PasswordChangeRequiredError(DomainError):
    code = "PASSWORD_CHANGE_REQUIRED"
    message = "请先修改密码（首次登录、密码已重置或已过期）"


def may(actor: Actor, operation: Operation) -> bool:
    """Whether the actor's roles and unit kind allow the operation at all."""
    policy = POLICIES[operation]
    return actor.unit_kind in policy.unit_kinds and not actor.roles.isdisjoint(policy.roles)


def authorize(actor: Actor | SystemActor, operation: Operation, target_path: str | None = None) -> None:
    """Refuse unless the actor may perform ``operation`` on the unit at ``target_path``.

    The system itself (``SystemActor``) may do anything.

    A target outside the actor's reach raises ``NotFoundError``, never ``ForbiddenError``, so that
    out-of-jurisdiction objects look exactly like absent ones.
    """
    if isinstance(actor, SystemActor):
        return
    if not may(actor, operation):
        raise ForbiddenError()
    if actor.password_change_required and POLICIES[operation].capacity is not Capacity.ACCOUNT:
        raise PasswordChangeRequiredError()
    if target_path is not None and not within_reach(actor, operation, target_path):
        raise NotFoundError()


def within_reach(actor: Actor, operation: Operation, target_path: str) -> bool:
    reach = POLICIES[operation].reach
    if reach is Reach.OWN_UNIT:
        return target_path == actor.unit_path
    if reach is Reach.BELOW:
        return target_path != actor.unit_path and actor.covers_path(target_path)
    return actor.covers_path(target_path)
