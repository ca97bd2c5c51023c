"""Notifications and the live to-do over GraphQL."""
