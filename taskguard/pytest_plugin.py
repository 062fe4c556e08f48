"""pytest plugin for taskguard (auto-enabled through the pytest11 entry point)."""
