"""SQLAlchemy models, one module per aggregate; importing this package registers them all."""

from backend.models.accounts import (
    AuthSession,
    Delegation,
    PasswordHistory,
    SignInEvent,
    User,
    UserRole,
)
from backend.models.audit import AuditEntry
from backend.models.base import Base
from backend.models.calendar import CalendarDay, CalendarYear
from backend.models.records import SchoolClass, StudentRecord
from backend.models.units import Unit

__all__ = [
    "AuditEntry",
    "AuthSession",
    "Base",
    "CalendarDay",
    "CalendarYear",
    "Delegation",
    "PasswordHistory",
    "SchoolClass",
    "SignInEvent",
    "StudentRecord",
    "Unit",
    "User",
    "UserRole",
]
