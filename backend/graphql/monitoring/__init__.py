"""GraphQL for weekly-login monitoring (MON-1)."""
