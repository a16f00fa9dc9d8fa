"""PostgreSQL storage: tables, migrations, the embedded server and repositories."""
