"""Importing this module registers the outcome handlers of every business on the approval engine.

A handler registers when its feature module is imported. The GraphQL schema imports them all through its
resolvers, but a process that only runs the sweeps (``xueji jobs run-due``) must import them too, or a
business ended by a sweep would miss its outcome.
"""

from backend.domain.changes import service as change_requests
from backend.domain.records import service as records
from backend.domain.status_changes import service as status_changes
from backend.domain.transfers import service as transfers

BUSINESS_MODULES = (records, change_requests, status_changes, transfers)
