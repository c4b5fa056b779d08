"""The engine loops: scheduler, dispatcher, receipt handling. ``smscast serve`` runs them beside the API,
``smscast worker`` alone; any number may run against one PostgreSQL database."""
