"""Parsing the ``X-CloudTasks-*`` headers of a task delivery."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TypeAlias

from dispatch._errors import TaskHeadersError

QUEUE_NAME = "X-CloudTasks-QueueName"
TASK_NAME = "X-CloudTasks-TaskName"
RETRY_COUNT = "X-CloudTasks-TaskRetryCount"
EXECUTION_COUNT = "X-CloudTasks-TaskExecutionCount"
ETA = "X-CloudTasks-TaskETA"
PREVIOUS_RESPONSE = "X-CloudTasks-TaskPreviousResponse"
RETRY_REASON = "X-CloudTasks-TaskRetryReason"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

_REQUIRED = (QUEUE_NAME, TASK_NAME, RETRY_COUNT, EXECUTION_COUNT, ETA)
_COUNT_RE = re.compile(r"[0-9]{1,10}")
_ETA_RE = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")
_STATUS_RE = re.compile(r"[0-9]{1,3}")
_QUEUE_RE = re.compile(r"[A-Za-z0-9-]{1,100}")
_TASK_RE = re.compile(r"[A-Za-z0-9_-]{1,500}")
_MAX_REASON = 1000
# W3C Trace Context: version 00's shape (later versions may append fields after a "-").
_TRACEPARENT_RE = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})-[0-9a-f]{2}"
    r"(?P<rest>-[\x21-\x7e]*)?"
)
_MAX_TRACESTATE = 512

HeaderValue: TypeAlias = "str | bytes"
Headers: TypeAlias = (
    "Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[HeaderValue, HeaderValue]]"
)


@dataclass(frozen=True)
class TaskDelivery:
    """What Cloud Tasks says about the delivery being handled.

    ``retry_count`` counts earlier attempts (0 on the first); ``execution_count`` counts
    earlier attempts that got a response from the handler. ``eta`` is the task's scheduled
    time (UTC). ``previous_response`` and ``retry_reason`` are only sent on retries.

    These headers are plain request headers: anyone who can reach the endpoint can send
    them. Authenticate the request (OIDC token, or Cloud Run IAM) before trusting them.
    """

    queue_name: str
    task_name: str
    retry_count: int
    execution_count: int
    eta: datetime
    previous_response: int | None = None
    retry_reason: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None

    @property
    def is_retry(self) -> bool:
        return self.retry_count > 0

    @property
    def trace_headers(self) -> dict[str, str]:
        """The W3C trace context the task was enqueued under, as a carrier.

        ``opentelemetry.propagate.extract(delivery.trace_headers)`` gives the context to
        start the handler's span in, so one trace spans the enqueue and the task. Empty
        when the task was enqueued outside a span (or without ``opentelemetry-api``).
        """
        carrier: dict[str, str] = {}
        if self.traceparent is not None:
            carrier[TRACEPARENT] = self.traceparent
            if self.tracestate is not None:
                carrier[TRACESTATE] = self.tracestate
        return carrier

    @classmethod
    def from_headers(cls, headers: Headers) -> TaskDelivery:
        """Parse the delivery headers (a mapping, or ``(name, value)`` pairs, str or bytes)."""
        return parse_task_headers(headers)


def _text(value: HeaderValue) -> str:
    # HTTP header bytes are latin-1 by definition (ASGI hands them over raw).
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _collect(headers: Headers) -> dict[str, str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    found: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name = _text(raw_name).strip().lower()
        if not name.startswith("x-cloudtasks-") and name not in (TRACEPARENT, TRACESTATE):
            continue
        value = _text(raw_value).strip()
        if name in found and found[name] != value:
            if name == TRACESTATE:
                # W3C: tracestate may be split over several lines, joined with commas.
                found[name] = f"{found[name]},{value}"
                continue
            if name == TRACEPARENT:
                found[name] = ""  # W3C: ambiguous, so invalid, so ignored
                continue
            # Two different values for one header is how header smuggling starts: refuse.
            raise TaskHeadersError(f"{name} is given twice with different values", header=name)
        found[name] = value
    return found


def _valid_traceparent(value: str) -> bool:
    """W3C Trace Context: version ff is invalid, version 00 has exactly four fields, and
    all-zero trace and span ids mean "no trace"."""
    match = _TRACEPARENT_RE.fullmatch(value)
    if match is None or match["version"] == "ff":
        return False
    if match["version"] == "00" and match["rest"] is not None:
        return False
    return match["trace"] != "0" * 32 and match["span"] != "0" * 16


def parse_task_headers(headers: Headers) -> TaskDelivery:
    """Parse the ``X-CloudTasks-*`` headers of a delivery into a ``TaskDelivery``.

    Raises ``TaskHeadersError`` (a ``ValueError``) when a required header is missing or a
    value is malformed: a request without them did not come from Cloud Tasks.
    """
    found = _collect(headers)
    for header in _REQUIRED:
        if header.lower() not in found:
            raise TaskHeadersError(f"missing header {header}", header=header)

    def get(header: str) -> str:
        return found[header.lower()]

    def count(header: str) -> int:
        value = get(header)
        if not _COUNT_RE.fullmatch(value):
            raise TaskHeadersError(f"{header} must be a non-negative integer", header=header)
        return int(value)

    queue_name = get(QUEUE_NAME)
    if not _QUEUE_RE.fullmatch(queue_name):
        raise TaskHeadersError(f"{QUEUE_NAME} is not a queue id", header=QUEUE_NAME)
    task_name = get(TASK_NAME)
    if not _TASK_RE.fullmatch(task_name):
        raise TaskHeadersError(f"{TASK_NAME} is not a task id", header=TASK_NAME)
    eta_text = get(ETA)
    if not _ETA_RE.fullmatch(eta_text):
        raise TaskHeadersError(f"{ETA} must be seconds since the epoch", header=ETA)
    try:
        eta = datetime.fromtimestamp(float(eta_text), tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise TaskHeadersError(f"{ETA} is out of range", header=ETA) from None

    previous: int | None = None
    if PREVIOUS_RESPONSE.lower() in found and get(PREVIOUS_RESPONSE):
        text = get(PREVIOUS_RESPONSE)
        if not _STATUS_RE.fullmatch(text):
            raise TaskHeadersError(
                f"{PREVIOUS_RESPONSE} must be an HTTP status code", header=PREVIOUS_RESPONSE
            )
        previous = int(text)
    reason = found.get(RETRY_REASON.lower()) or None
    if reason is not None and (len(reason) > _MAX_REASON or not reason.isprintable()):
        raise TaskHeadersError(f"{RETRY_REASON} is malformed", header=RETRY_REASON)

    # W3C: a malformed traceparent is ignored (the request starts a new trace), and a
    # tracestate without a valid traceparent means nothing.
    traceparent = found.get(TRACEPARENT)
    tracestate = found.get(TRACESTATE)
    if traceparent is not None and not _valid_traceparent(traceparent):
        traceparent = None
    if traceparent is None or (
        tracestate is not None
        and (
            len(tracestate) > _MAX_TRACESTATE
            or not tracestate.isascii()
            or not tracestate.isprintable()
        )
    ):
        tracestate = None

    return TaskDelivery(
        queue_name=queue_name,
        task_name=task_name,
        retry_count=count(RETRY_COUNT),
        execution_count=count(EXECUTION_COUNT),
        eta=eta,
        previous_response=previous,
        retry_reason=reason,
        traceparent=traceparent,
        tracestate=tracestate or None,
    )
