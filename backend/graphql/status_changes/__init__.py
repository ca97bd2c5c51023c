"""GraphQL for status changes other than transfer (非转学异动, STA-1..5)."""
