"""GraphQL for units."""
