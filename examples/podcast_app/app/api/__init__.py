"""HTTP API: the routers and the services they call."""
