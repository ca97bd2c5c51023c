"""SQLAlchemy models, one module per aggregate; importing this package registers them all."""

from backend.models.accounts import (
    AuthSession,
    Delegation,
    PasswordHistory,
    SignInEvent,
    User,
    UserRole,
)
from backend.models.attachments import Attachment
from backend.models.audit import AuditEntry
from backend.models.base import Base
from backend.models.calendar import CalendarDay, CalendarYear
from backend.models.changes import ChangeRequest, ControlledField
from backend.models.imports import ContinuationImport, ContinuationRow
from backend.models.jobs import JobLease
from backend.models.notifications import LoginReminder, Notification, NotificationPreference, OutboxMessage
from backend.models.problems import ProblemRecord
from backend.models.records import (
    Guardian,
    NationalNumberHistory,
    RecordHistory,
    SchoolClass,
    StudentRecord,
)
from backend.models.settings import ProvinceSetting
from backend.models.status_changes import StatusChange
from backend.models.transfers import Transfer
from backend.models.units import Unit
from backend.models.workflows import (
    IdempotencyKey,
    OverdueStep,
    WorkflowAction,
    WorkflowInstance,
    WorkflowStep,
)

__all__ = [
    "Attachment",
    "AuditEntry",
    "AuthSession",
    "Base",
    "CalendarDay",
    "CalendarYear",
    "ChangeRequest",
    "ContinuationImport",
    "ContinuationRow",
    "ControlledField",
    "Delegation",
    "Guardian",
    "IdempotencyKey",
    "JobLease",
    "LoginReminder",
    "NationalNumberHistory",
    "Notification",
    "NotificationPreference",
    "OutboxMessage",
    "OverdueStep",
    "PasswordHistory",
    "ProblemRecord",
    "ProvinceSetting",
    "RecordHistory",
    "SchoolClass",
    "SignInEvent",
    "StatusChange",
    "StudentRecord",
    "Transfer",
    "Unit",
    "User",
    "UserRole",
    "WorkflowAction",
    "WorkflowInstance",
    "WorkflowStep",
]
