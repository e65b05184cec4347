"""Persistence: SQLModel tables, engine and unit of work, query functions, Alembic migrations."""
