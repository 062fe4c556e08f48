"""Task endpoints (the worker), called over HTTP."""
