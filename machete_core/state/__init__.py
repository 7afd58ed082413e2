"""Desired state: the database (SQLAlchemy 2 + Alembic) behind the :class:`Store` facade."""
