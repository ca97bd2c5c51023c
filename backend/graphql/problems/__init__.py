"""GraphQL for problem records."""
