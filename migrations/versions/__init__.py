"""Alembic revisions (alembic skips this file when it reads the revisions)."""
