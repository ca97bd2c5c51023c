"""Transfers and post-graduation cross-province study over GraphQL (TRF-1..11)."""
