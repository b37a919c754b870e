"""Schema migrations of every renkei database with Alembic: `env.py`, `versions/` (one revision per
change, one history per kind of database), `catalog.py` (which databases a data folder holds) and
`runner.py` (upgrade and status, used by `renkei db`). How to add a revision: docs/schema.md."""
