"""The in-app event log: what each user is told, numbered per recipient, written with its cause."""
