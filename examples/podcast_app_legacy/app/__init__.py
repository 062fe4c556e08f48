"""podcast_app, before the refactor: five ways background work escaped review."""
