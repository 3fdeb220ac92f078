"""Alembic migrations (async env). Run with ``phikat db upgrade``."""
