"""Pure domain logic: no framework, database or socket imports (stdlib and phonenumbers only)."""
