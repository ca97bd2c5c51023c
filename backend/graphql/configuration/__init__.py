"""GraphQL for configuration: controlled fields (CHG-1) and province windows and switches (CFG-2)."""
