"""Episode services."""
