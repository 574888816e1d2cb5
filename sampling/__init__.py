"""natplan domain: scenario model, loading, validation, outputs and the CLI."""
