"""Helpers for task endpoints: what Cloud Tasks says about the delivery being handled.

    from dispatch.worker import parse_task_headers

    @router.post("/tasks/transcribe")
    def transcribe(request: Request, body: TranscribeTask) -> None:
        delivery = parse_task_headers(request.headers)
        if delivery.retry_count >= 5:
            ...

Authenticate task requests (verify the OIDC token) before trusting these headers.

``TaskDelivery.trace_headers`` carries the W3C trace context the task was enqueued under:
``opentelemetry.propagate.extract(delivery.trace_headers)`` continues that trace.
"""

from dispatch._errors import TaskHeadersError
from dispatch._worker import TaskDelivery, parse_task_headers

__all__ = ["TaskDelivery", "TaskHeadersError", "parse_task_headers"]
