"""dispatch.worker: the X-CloudTasks-* headers of a delivery, parsed into a TaskDelivery."""

from __future__ import annotations

import pickle
from datetime import datetime, timezone

import pytest

from dispatch.worker import TaskDelivery, TaskHeadersError, parse_task_headers

FIRST = {
    "X-CloudTasks-QueueName": "default",
    "X-CloudTasks-TaskName": "episode-42",
    "X-CloudTasks-TaskRetryCount": "0",
    "X-CloudTasks-TaskExecutionCount": "0",
    "X-CloudTasks-TaskETA": "1700000000.123456",
    "Content-Type": "application/json",
}
RETRY = {
    **FIRST,
    "X-CloudTasks-TaskRetryCount": "3",
    "X-CloudTasks-TaskExecutionCount": "2",
    "X-CloudTasks-TaskPreviousResponse": "503",
    "X-CloudTasks-TaskRetryReason": "HTTP status code 503",
}


def test_first_delivery() -> None:
    delivery = parse_task_headers(FIRST)
    assert delivery == TaskDelivery(
        queue_name="default",
        task_name="episode-42",
        retry_count=0,
        execution_count=0,
        eta=datetime.fromtimestamp(1700000000.123456, tz=timezone.utc),
        previous_response=None,
        retry_reason=None,
    )
    assert not delivery.is_retry


def test_retry_delivery() -> None:
    delivery = TaskDelivery.from_headers(RETRY)
    assert (delivery.retry_count, delivery.execution_count) == (3, 2)
    assert delivery.previous_response == 503
    assert delivery.retry_reason == "HTTP status code 503"
    assert delivery.is_retry


def test_names_are_case_insensitive_and_raw_asgi_bytes_work() -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in RETRY.items()]
    assert parse_task_headers(raw) == parse_task_headers(RETRY)
    upper = {k.upper(): v for k, v in RETRY.items()}
    assert parse_task_headers(upper) == parse_task_headers(RETRY)


def test_empty_optional_headers_mean_absent() -> None:
    delivery = parse_task_headers(
        {**FIRST, "X-CloudTasks-TaskPreviousResponse": "", "X-CloudTasks-TaskRetryReason": ""}
    )
    assert delivery.previous_response is None
    assert delivery.retry_reason is None


@pytest.mark.parametrize(
    "header",
    [
        "X-CloudTasks-QueueName",
        "X-CloudTasks-TaskName",
        "X-CloudTasks-TaskRetryCount",
        "X-CloudTasks-TaskExecutionCount",
        "X-CloudTasks-TaskETA",
    ],
)
def test_missing_required_header(header: str) -> None:
    headers = {k: v for k, v in FIRST.items() if k != header}
    with pytest.raises(TaskHeadersError, match=header) as info:
        parse_task_headers(headers)
    assert info.value.header == header
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-CloudTasks-TaskRetryCount", "-1"),
        ("X-CloudTasks-TaskRetryCount", "+1"),
        ("X-CloudTasks-TaskRetryCount", "1_000"),
        ("X-CloudTasks-TaskRetryCount", "one"),
        ("X-CloudTasks-TaskExecutionCount", "1.5"),
        ("X-CloudTasks-TaskETA", "yesterday"),
        ("X-CloudTasks-TaskETA", "1e9"),
        ("X-CloudTasks-TaskETA", "-5"),
        ("X-CloudTasks-TaskETA", "999999999999"),
        ("X-CloudTasks-TaskPreviousResponse", "5030"),
        ("X-CloudTasks-TaskPreviousResponse", "ok"),
        ("X-CloudTasks-QueueName", "projects/p/locations/l/queues/q"),
        ("X-CloudTasks-TaskName", "a/b"),
        ("X-CloudTasks-TaskRetryReason", "bad\x00reason"),
    ],
)
def test_malformed_values_are_refused(header: str, value: str) -> None:
    with pytest.raises(TaskHeadersError) as info:
        parse_task_headers({**RETRY, header: value})
    assert info.value.header == header


def test_conflicting_duplicates_are_refused() -> None:
    pairs = [*FIRST.items(), ("x-cloudtasks-taskretrycount", "7")]
    with pytest.raises(TaskHeadersError, match="twice"):
        parse_task_headers(pairs)
    same = [*FIRST.items(), ("x-cloudtasks-taskretrycount", "0")]
    assert parse_task_headers(same).retry_count == 0


def test_delivery_and_error_pickle() -> None:
    delivery = parse_task_headers(RETRY)
    assert pickle.loads(pickle.dumps(delivery)) == delivery
    error = TaskHeadersError("missing header X", header="X")
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.header) == ("missing header X", "X")
