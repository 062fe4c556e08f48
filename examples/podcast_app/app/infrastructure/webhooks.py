"""Outbound webhooks: the one place the service calls other services over HTTP.

Called from a task endpoint, so a failure is retried by Cloud Tasks rather than lost; the
client is chosen here, in reviewed code, not by a setting at run time.
"""

from __future__ import annotations

from typing import Any

import httpx


class WebhookFailed(Exception):
    """The subscriber did not accept the event (``status`` is None when unreachable)."""

    def __init__(self, status: int | None) -> None:
        super().__init__(status)
        self.status = status


def post_event(url: str, event: dict[str, Any], *, timeout: float = 10.0) -> None:
    try:
        response = httpx.post(url, json=event, timeout=timeout)
    except httpx.HTTPError:
        raise WebhookFailed(None) from None
    if not response.is_success:
        raise WebhookFailed(response.status_code)
