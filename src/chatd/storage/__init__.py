"""SQL storage for SQLite and PostgreSQL: the only package that knows the database driver."""
