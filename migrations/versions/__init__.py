"""Alembic revisions, oldest first by file name; never edit one that has been released."""
