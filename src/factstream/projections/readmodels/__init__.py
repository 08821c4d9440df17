"""Where read models live: SQL databases (SQLite, PostgreSQL) and Redis."""
