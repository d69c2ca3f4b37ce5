"""Storage: the Tortoise models, the database (SQLite | PostgreSQL), the one write path
(group commit), schema migrations and keyset paging."""
