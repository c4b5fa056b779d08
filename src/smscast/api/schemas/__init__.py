"""Wire schemas (pydantic), separate from the database rows and the domain types."""
