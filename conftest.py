"""Project-wide pytest configuration: shared by every test under tests/."""

pytest_plugins = ["pytester"]
