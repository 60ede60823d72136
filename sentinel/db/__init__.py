"""Database layer: typed models, engine helpers and Alembic migrations."""
