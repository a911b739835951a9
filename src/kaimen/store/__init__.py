"""The operational store: SQLAlchemy tables, repositories and Alembic migrations."""
