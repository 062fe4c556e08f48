"""Adapters to the outside world: the database, task naming, OIDC verification."""
