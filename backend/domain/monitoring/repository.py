"""Which accounts MON-1 watches, as SQL shared by the reminder job and the compliance report.

MON-1 puts the weekly duty on the registrars and approvers of schools and counties. Monitored, therefore,
is every active account holding a business role (REGISTRAR or LEADER, ORG-2; system administrators
configure and approve nothing) in an active unit of kind SCHOOL or COUNTY. Schools run directly by a city
or the province (市直/省直学校) and branch schools are SCHOOL units, so they are in.

City and province staff are not monitored: MON-1 names school and county, where the daily business is
entered and reviewed; the levels above mostly query and analyse and sign in when there is something to
look at. They are neither reminded nor counted in the report (their sign-ins are still logged, and
``users { lastSignInAt }`` shows them). They do receive escalations about the units below them.

An account's absence starts at its last successful sign-in, or at its creation if it never signed in
(``absent_since``): a new account has a week, like everyone else, before it is reminded.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, and_, func, select

from backend.models import Unit, User, UserRole
from backend.models.enums import Role, UnitKind

MONITORED_UNIT_KINDS = (UnitKind.SCHOOL, UnitKind.COUNTY)
MONITORED_ROLES = (Role.REGISTRAR, Role.LEADER)


def is_monitored() -> ColumnElement[bool]:
    """The account (``User``, joined with its ``Unit``) is under the weekly duty (MON-1)."""
    business = select(UserRole.user_id).where(UserRole.user_id == User.id, UserRole.role.in_(MONITORED_ROLES))
    return and_(
        User.is_active,
        Unit.is_active,
        Unit.kind.in_(MONITORED_UNIT_KINDS),
        business.exists(),
    )


def absent_since() -> ColumnElement[datetime]:
    """When the account's current absence began: its last successful sign-in, else its creation."""
    return cast(ColumnElement[datetime], func.coalesce(User.last_sign_in_at, User.created_at))


def has_role(role: Role) -> ColumnElement[bool]:
    """The ``User`` of the enclosing query holds ``role``."""
    return select(UserRole.user_id).where(UserRole.user_id == User.id, UserRole.role == role).exists()
