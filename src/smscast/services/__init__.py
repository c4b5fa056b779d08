"""Use cases. Each service takes its ports as constructor arguments, owns its transactions and raises
``DomainError``s; HTTP handlers, the CLI, the dashboard and the engine loops all call these."""
