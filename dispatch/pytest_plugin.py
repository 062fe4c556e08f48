"""pytest plugin for dispatch: fixtures for the emulator and for captured tasks."""
