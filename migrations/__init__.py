"""Alembic script directory: ``env.py``, the revision template and ``versions/`` (see backend/migrate.py)."""
