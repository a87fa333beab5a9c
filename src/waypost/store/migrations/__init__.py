"""Alembic migrations of the store's schema; ``engine.migrate`` runs them on every open.

``versions/`` holds one file per schema change, each written by hand (autogenerate
is a starting point only) and tested on SQLite and PostgreSQL. ``alembic.ini`` is
for developers only: ``alembic -c src/waypost/store/migrations/alembic.ini
-x url=sqlite:///dev.db revision -m "..." --autogenerate``. The store itself never
reads it.
"""
