"""The ``smscast`` command line (api.md §10)."""
