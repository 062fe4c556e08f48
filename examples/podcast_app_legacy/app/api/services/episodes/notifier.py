"""Telling subscribers an episode is out (TG003: a dynamic import nobody can review)."""

import importlib

from app import settings


def notify_published(episode_id: int) -> None:
    if not settings.WEBHOOK_URL:
        return
    client = importlib.import_module(settings.HTTP_CLIENT)
    client.post(settings.WEBHOOK_URL, json={"episode_id": episode_id, "event": "published"})
