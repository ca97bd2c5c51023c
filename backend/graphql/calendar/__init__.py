"""GraphQL for calendar."""
