"""Our own Cloud Tasks client (TG001: only the sanctioned module may import it).

Everything here is what dispatch.enqueue_http_task now does correctly: a client per
process built at import time (broken after fork), a ``str`` body (silently base64-decoded
by the client), no OIDC token, no retry on UNAVAILABLE, no task name (no deduplication).
"""

import json

from google.cloud import tasks_v2

from app import settings

client = tasks_v2.CloudTasksClient()


def enqueue(path: str, payload: dict) -> str:
    parent = client.queue_path(settings.GCP_PROJECT, settings.GCP_LOCATION, settings.GCP_QUEUE)
    task = {
        "http_request": {
            "http_method": tasks_v2.HttpMethod.POST,
            "url": settings.WORKER_URL + path,
            "body": json.dumps(payload),
        }
    }
    return client.create_task(parent=parent, task=task).name
