"""Examples: the podcast service before and after the refactor, and ``make demo``."""
