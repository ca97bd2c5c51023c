"""GraphQL for approvals: the to-do list, a business timeline, approving and rejecting."""
