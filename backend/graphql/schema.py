"""Assembles the schema from the feature packages and applies the endpoint's hardening."""

from __future__ import annotations

from datetime import datetime

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from backend.config import Settings
from backend.graphql.accounts.mutations import AccountMutations
from backend.graphql.accounts.queries import AccountQueries
from backend.graphql.audit.queries import AuditQueries
from backend.graphql.calendar.mutations import CalendarMutations
from backend.graphql.calendar.queries import CalendarQueries
from backend.graphql.configuration.schema import ConfigurationMutations, ConfigurationQueries
from backend.graphql.continuation.schema import ContinuationMutations, ContinuationQueries
from backend.graphql.errors import ErrorShaping
from backend.graphql.extensions import RequestScope
from backend.graphql.monitoring.schema import MonitoringQueries
from backend.graphql.notifications.preferences import (
    NotificationPreferenceMutations,
    NotificationPreferenceQueries,
)
from backend.graphql.notifications.schema import (
    NotificationMutations,
    NotificationQueries,
    NotificationSubscriptions,
)
from backend.graphql.problems.mutations import ProblemMutations
from backend.graphql.problems.queries import ProblemQueries
from backend.graphql.records.change_requests import ChangeRequestQueries
from backend.graphql.records.mutations import ChangeRequestMutations, RecordMutations
from backend.graphql.records.queries import RecordQueries
from backend.graphql.scalars import DATETIME
from backend.graphql.security import hardening_extensions
from backend.graphql.status_changes.schema import StatusChangeMutations, StatusChangeQueries
from backend.graphql.system.subscriptions import SystemSubscriptions
from backend.graphql.transfers.mutations import TransferMutations
from backend.graphql.transfers.queries import TransferQueries
from backend.graphql.units.mutations import UnitMutations
from backend.graphql.units.queries import UnitQueries
from backend.graphql.workflows.schema import WorkflowMutations, WorkflowQueries


@strawberry.type
class Query(
    AccountQueries,
    UnitQueries,
    RecordQueries,
    ChangeRequestQueries,
    ContinuationQueries,
    ProblemQueries,
    StatusChangeQueries,
    TransferQueries,
    WorkflowQueries,
    AuditQueries,
    CalendarQueries,
    NotificationQueries,
    NotificationPreferenceQueries,
    ConfigurationQueries,
    MonitoringQueries,
):
    pass


@strawberry.type
class Mutation(
    AccountMutations,
    UnitMutations,
    CalendarMutations,
    RecordMutations,
    ChangeRequestMutations,
    ContinuationMutations,
    ProblemMutations,
    StatusChangeMutations,
    TransferMutations,
    WorkflowMutations,
    ConfigurationMutations,
    NotificationMutations,
    NotificationPreferenceMutations,
):
    pass


@strawberry.type
class Subscription(SystemSubscriptions, NotificationSubscriptions):
    pass


class XuejiSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log nothing here: bad input is the client's business, and ``ErrorShaping`` logs the unexpected."""


def build_schema(settings: Settings) -> strawberry.Schema:
    return XuejiSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[*hardening_extensions(settings), ErrorShaping, RequestScope],
        config=StrawberryConfig(
            disable_field_suggestions=settings.production, scalar_map={datetime: DATETIME}
        ),
    )
