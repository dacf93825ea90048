"""Alembic revisions, oldest first: 0001 initial schema, 0002 equity snapshots, run heartbeats, an order index."""
