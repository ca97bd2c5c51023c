"""Weekly-login monitoring (MON-1): reminders to absent accounts, escalation, the report by region."""
