"""The HTTP API (FastAPI): Routee's SMS API on the wire."""
