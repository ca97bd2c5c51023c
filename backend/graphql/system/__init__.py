"""GraphQL for system."""
