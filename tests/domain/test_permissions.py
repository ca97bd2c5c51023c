"""The permission table (ORG-2) and jurisdiction reach (ORG-3), with no database."""

from __future__ import annotations

import itertools

import pytest

from backend.domain.actor import Actor, SystemActor
from backend.domain.errors import DomainError
from backend.domain.permissions import (
    POLICIES,
    Capacity,
    Operation,
    Reach,
    authorize,
    may,
    within_reach,
)
from backend.models.enums import Role, UnitKind

COUNTY_PATH = "/1/2/3/4/"
PATHS = {
    "own": COUNTY_PATH,
    "child": "/1/2/3/4/10/",
    "grandchild": "/1/2/3/4/10/11/",
    "sibling": "/1/2/3/5/",
    "sibling-with-longer-id": "/1/2/3/40/",  # shares the prefix "/1/2/3/4" as a string, not as a path
    "parent": "/1/2/3/",
    "root": "/1/",
}
EXPECTED_REACH = {
    Reach.SUBTREE: {"own", "child", "grandchild"},
    Reach.BELOW: {"child", "grandchild"},
    Reach.OWN_UNIT: {"own"},
}


def make_actor(
    roles: set[Role] | frozenset[Role],
    kind: UnitKind = UnitKind.COUNTY,
    path: str = COUNTY_PATH,
    *,
    password_change_required: bool = False,
) -> Actor:
    return Actor(
        user_id=7,
        username="someone",
        unit_id=4,
        unit_path=path,
        unit_kind=kind,
        roles=frozenset(roles),
        password_change_required=password_change_required,
    )


def code_of(actor: Actor | SystemActor, operation: Operation, target: str | None = None) -> str | None:
    try:
        authorize(actor, operation, target)
    except DomainError as error:
        return error.code
    return None


def test_every_operation_has_a_policy() -> None:
    # RULES: ORG-2
    assert set(POLICIES) == set(Operation)


@pytest.mark.parametrize(
    ("operation", "role", "kind"),
    list(itertools.product(Operation, Role, UnitKind)),
    ids=lambda value: str(value),
)
def test_may_follows_the_policy_table(operation: Operation, role: Role, kind: UnitKind) -> None:
    # RULES: ORG-2
    policy = POLICIES[operation]
    expected = role in policy.roles and kind in policy.unit_kinds

    assert may(make_actor({role}, kind), operation) is expected
    assert (code_of(make_actor({role}, kind), operation) is None) is expected
    if not expected:
        assert code_of(make_actor({role}, kind), operation) == "FORBIDDEN"


@pytest.mark.parametrize("operation", list(Operation))
def test_any_one_granted_role_suffices(operation: Operation) -> None:
    # RULES: ORG-2
    granted = POLICIES[operation].roles
    kind = next(iter(POLICIES[operation].unit_kinds))

    assert may(make_actor(set(Role), kind), operation) is True
    assert may(make_actor(set(Role) - granted, kind), operation) is False


@pytest.mark.parametrize("kind", list(UnitKind))
def test_system_administrator_never_does_business(kind: UnitKind) -> None:
    # RULES: ORG-2
    admin = make_actor({Role.SYSTEM_ADMINISTRATOR}, kind)
    business = [op for op, policy in POLICIES.items() if policy.capacity is Capacity.BUSINESS]

    assert Operation.VIEW_STUDENTS in business
    assert not may(admin, Operation.VIEW_STUDENTS)
    for operation in business:
        assert not may(admin, operation), operation
        assert code_of(admin, operation) == "FORBIDDEN"


@pytest.mark.parametrize("operation", list(Operation))
def test_business_operations_belong_to_business_roles_only(operation: Operation) -> None:
    # RULES: ORG-2: registrars and leaders do business; configuration belongs to administrators.
    policy = POLICIES[operation]
    if policy.capacity is Capacity.BUSINESS:
        assert policy.roles <= {Role.REGISTRAR, Role.LEADER}
    if policy.capacity is Capacity.CONFIGURATION:
        assert Role.REGISTRAR not in policy.roles
    if policy.capacity is Capacity.OVERSIGHT:
        assert policy.roles == {Role.LEADER}
        assert UnitKind.SCHOOL not in policy.unit_kinds


@pytest.mark.parametrize(
    ("operation", "target"),
    list(itertools.product(Operation, PATHS)),
    ids=lambda value: str(value),
)
def test_reach_of_every_operation(operation: Operation, target: str) -> None:
    # RULES: ORG-3
    reach = POLICIES[operation].reach
    inside = target in EXPECTED_REACH[reach]
    kinds = POLICIES[operation].unit_kinds
    kind = next(k for k in (UnitKind.COUNTY, UnitKind.PROVINCE, UnitKind.SCHOOL) if k in kinds)
    actor = make_actor(set(POLICIES[operation].roles), kind)

    assert within_reach(actor, operation, PATHS[target]) is inside
    # Out of reach looks exactly like absent: NOT_FOUND, never FORBIDDEN.
    assert code_of(actor, operation, PATHS[target]) == (None if inside else "NOT_FOUND")


@pytest.mark.parametrize(
    ("operation", "reach"),
    [
        (Operation.VIEW_UNITS, Reach.SUBTREE),
        (Operation.MANAGE_USERS, Reach.SUBTREE),
        (Operation.MANAGE_UNITS, Reach.BELOW),
        (Operation.VIEW_OWN_ACCOUNT, Reach.OWN_UNIT),
        (Operation.MANAGE_DELEGATIONS, Reach.OWN_UNIT),
    ],
)
def test_reach_of_key_operations(operation: Operation, reach: Reach) -> None:
    # RULES: ORG-3 (units are created and edited from above; delegations registered at the same level, SEC-2)
    assert POLICIES[operation].reach is reach


def test_forbidden_comes_before_jurisdiction() -> None:
    # RULES: ORG-2, ORG-3: a role that may not act at all learns nothing about the target.
    registrar = make_actor({Role.REGISTRAR})

    assert code_of(registrar, Operation.MANAGE_USERS, PATHS["sibling"]) == "FORBIDDEN"


def test_password_change_required_leaves_only_the_own_account() -> None:
    # RULES: SEC-1
    actor = make_actor({Role.REGISTRAR, Role.LEADER}, password_change_required=True)

    assert code_of(actor, Operation.VIEW_OWN_ACCOUNT, COUNTY_PATH) is None
    for operation, policy in POLICIES.items():
        if policy.capacity is not Capacity.ACCOUNT and may(actor, operation):
            assert code_of(actor, operation) == "PASSWORD_CHANGE_REQUIRED", operation
    # A role that may not act at all is still told FORBIDDEN first.
    assert code_of(actor, Operation.MANAGE_UNITS) == "FORBIDDEN"


@pytest.mark.parametrize("operation", list(Operation))
def test_system_actor_passes_everything(operation: Operation) -> None:
    # The system itself (sweeps, CLI) is not bound by roles or reach.
    assert code_of(SystemActor(), operation) is None
    assert code_of(SystemActor(), operation, "/99/100/") is None


def test_covers_path_is_by_path_segment() -> None:
    # RULES: ORG-3
    actor = make_actor({Role.LEADER}, path="/1/2/")

    assert actor.covers_path("/1/2/")
    assert actor.covers_path("/1/2/3/")
    assert not actor.covers_path("/1/20/")
    assert not actor.covers_path("/1/")
