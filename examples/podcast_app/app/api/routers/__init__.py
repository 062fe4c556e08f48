"""HTTP routers (protected by the policy: no HTTP clients, no processes)."""
