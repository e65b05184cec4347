"""Persistence: SQLModel tables, the engine and the unit of work with its repositories (one module per feature), the figures, Alembic migrations."""
