"""The database layer: every SQL statement of smscast lives in this package (repositories + migrations)."""
