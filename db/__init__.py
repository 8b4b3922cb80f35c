"""Persistence: SQLModel tables, the async engine and its transactions, queries, migrations."""
