"""The schema migrations; installed as the package app._migrations (see pyproject.toml)."""
