"""podcast_app: episodes are transcribed and assembled by background tasks."""
