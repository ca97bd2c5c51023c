"""GraphQL for records."""
