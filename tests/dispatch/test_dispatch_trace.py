"""W3C trace context: the current span's traceparent/tracestate travel with the task, and
dispatch.worker hands them back; without opentelemetry-api nothing changes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from dispatch_support import BLOCK_GOOGLE, http_receiver, make_settings, run_python
from opentelemetry import context, propagate, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from dispatch import enqueue_http_task, enqueue_http_task_async, enqueue_many
from dispatch.emulator import Emulator
from dispatch.testing import capture_tasks
from dispatch.worker import parse_task_headers

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def span() -> Iterator[SpanContext]:
    """A current span (API only: a non-recording span with a known context)."""
    span_context = SpanContext(
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "value")]),
    )
    token = context.attach(trace.set_span_in_context(NonRecordingSpan(span_context)))
    yield span_context
    context.detach(token)


@pytest.mark.usefixtures("span")
def test_the_current_span_is_added_to_the_task() -> None:
    with capture_tasks() as tasks:
        enqueue_http_task("/tasks/x", {"a": 1}, settings=make_settings())
        enqueue_many([("/tasks/y", None)], settings=make_settings())
    for task in tasks:
        assert task.headers["traceparent"] == TRACEPARENT
        assert task.headers["tracestate"] == "vendor=value"


@pytest.mark.usefixtures("span")
def test_async_enqueue_adds_it_too() -> None:
    async def main() -> str:
        return await enqueue_http_task_async("/tasks/x", settings=make_settings())

    with capture_tasks() as tasks:
        asyncio.run(main())
    assert tasks[0].headers["traceparent"] == TRACEPARENT


def test_outside_a_span_nothing_is_added() -> None:
    with capture_tasks() as tasks:
        enqueue_http_task("/tasks/x", settings=make_settings())
    assert set(tasks[0].headers) == {"Content-Type"}


@pytest.mark.usefixtures("span")
@pytest.mark.parametrize(
    "given",
    [
        {"Traceparent": "00-11111111111111111111111111111111-2222222222222222-00"},
        {"tracestate": "mine=1"},
    ],
)
def test_a_trace_context_the_caller_sets_wins(given: dict[str, str]) -> None:
    with capture_tasks() as tasks:
        enqueue_http_task("/tasks/x", headers=given, settings=make_settings())
    # Nothing of the span's is mixed in: traceparent and tracestate belong together.
    assert dict(tasks[0].headers) == {"Content-Type": "application/json", **given}


def test_one_trace_from_the_enqueue_to_the_worker(
    span: SpanContext, cloud_tasks_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with http_receiver() as receiver:
        monkeypatch.setenv("TASKS_BASE_URL", receiver.base_url)
        enqueue_http_task("/tasks/traced", {"a": 1})
        (request,) = receiver.wait_for(1)
    delivery = parse_task_headers(request.headers)
    assert delivery.traceparent == TRACEPARENT
    assert delivery.tracestate == "vendor=value"
    extracted = trace.get_current_span(propagate.extract(delivery.trace_headers))
    assert extracted.get_span_context().trace_id == span.trace_id
    assert extracted.get_span_context().span_id == span.span_id


# --- the worker side ------------------------------------------------------------------------

BASE = {
    "X-CloudTasks-QueueName": "q",
    "X-CloudTasks-TaskName": "t",
    "X-CloudTasks-TaskRetryCount": "0",
    "X-CloudTasks-TaskExecutionCount": "0",
    "X-CloudTasks-TaskETA": "1700000000.5",
}


@pytest.mark.parametrize(
    "value",
    [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # no flags
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 x",
        "garbage",
        "",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # 00 has 4 fields
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero span id
    ],
)
def test_a_malformed_traceparent_is_ignored_with_its_tracestate(value: str) -> None:
    delivery = parse_task_headers({**BASE, "traceparent": value, "tracestate": "a=b"})
    assert delivery.traceparent is None
    assert delivery.tracestate is None
    assert delivery.trace_headers == {}


def test_tracestate_split_over_lines_is_joined_and_two_traceparents_are_ignored() -> None:
    pairs = [
        *BASE.items(),
        ("tracestate", "a=1"),
        ("Tracestate", "b=2"),
        ("traceparent", TRACEPARENT),
    ]
    delivery = parse_task_headers(pairs)
    assert delivery.trace_headers == {"traceparent": TRACEPARENT, "tracestate": "a=1,b=2"}
    other = "00-11111111111111111111111111111111-2222222222222222-00"
    twice = [*BASE.items(), ("traceparent", TRACEPARENT), ("traceparent", other)]
    assert parse_task_headers(twice).traceparent is None


def test_a_later_version_may_carry_more_fields() -> None:
    value = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next"
    assert parse_task_headers({**BASE, "traceparent": value}).traceparent == value


def test_a_delivery_without_trace_context_has_none() -> None:
    delivery = parse_task_headers(BASE)
    assert (delivery.traceparent, delivery.tracestate, delivery.trace_headers) == (None, None, {})


# --- without opentelemetry-api ----------------------------------------------------------

BLOCK_OTEL = """
import sys

class _Uninstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opentelemetry":
            sys.stderr.write("attempted " + name + "\\n")
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Uninstalled())
"""

WITHOUT_OTEL = """
import json, sys
import dispatch
from dispatch.testing import capture_tasks
from dispatch.worker import parse_task_headers
imported_by_import = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
settings = dispatch.DispatchSettings(project="p", location="l", queue="q",
                                     base_url="https://worker.example.com")
with capture_tasks() as tasks:
    dispatch.enqueue_http_task("/tasks/x", {"a": 1}, settings=settings)
    dispatch.enqueue_http_task("/tasks/x", {"a": 2}, settings=settings)
print(json.dumps({
    "at_import": imported_by_import,
    "after": sorted(m for m in sys.modules if m.startswith("opentelemetry")),
    "headers": [dict(t.headers) for t in tasks],
}))
"""


def test_without_opentelemetry_nothing_changes_and_nothing_is_imported() -> None:
    result = run_python(BLOCK_GOOGLE + BLOCK_OTEL + WITHOUT_OTEL)
    assert result["at_import"] == []
    assert result["after"] == []
    assert result["headers"] == [{"Content-Type": "application/json"}] * 2


def test_with_opentelemetry_importing_dispatch_does_not_import_it() -> None:
    code = (
        "import json, sys\nimport dispatch, dispatch.worker\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('opentelemetry'))))"
    )
    assert run_python(code) == []
