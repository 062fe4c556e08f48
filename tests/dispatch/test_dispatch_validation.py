"""Every argument and setting is checked before any RPC, as DispatchConfigError."""

from __future__ import annotations

import asyncio
import posixpath
import socket
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import structlog
from dispatch_support import make_settings
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from dispatch import (
    DispatchConfigError,
    DispatchSettings,
    enqueue_http_task,
    enqueue_http_task_async,
)
from dispatch.testing import capture_tasks

BASE = "https://worker.example.com"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def cloud() -> DispatchSettings:
    """Settings that would really send, to a port where nothing listens.

    A check that let a bad task through would surface as TaskCreationError (UNAVAILABLE)
    instead of DispatchConfigError, so these tests fail if validation is skipped.
    """
    return make_settings(emulator_host=f"127.0.0.1:{_closed_port()}", retry_budget=0.3)


def reject(
    settings: DispatchSettings, path: Any = "/tasks/x", payload: Any = None, **kwargs: Any
) -> DispatchConfigError:
    with pytest.raises(DispatchConfigError) as info:
        enqueue_http_task(path, payload, settings=settings, **kwargs)
    return info.value


def accept(path: str = "/tasks/x", payload: Any = None, **kwargs: Any) -> Any:
    kwargs.setdefault("settings", make_settings())
    with capture_tasks() as captured:
        enqueue_http_task(path, payload, **kwargs)
    assert len(captured) == 1
    return captured[0]


# --- path -----------------------------------------------------------------------------

BAD_PATHS = [
    "",
    "tasks/x",
    "//evil.example.com/x",
    "/a//b",
    "/a/../b",
    "/..",
    "/./a",
    "/a/.",
    "/a\\b",
    "\\\\evil.example.com/x",
    "/a\r\nHost: evil.example.com",
    "/a\n",
    "/a\tb",
    "/a b",
    "/a#frag",
    "/a@evil.example.com",
    "/@evil.example.com",
    "/%2e%2e/admin",
    "/%2E%2E/admin",
    "/a%2fb",
    "/a%2F..%2Fb",
    "/a%5cb",
    "/a%252fb",
    "/a%2e",
    "/a%zz",
    "/a%2",
    "/%0d%0aHost:evil",
    "/a%00",
    "/a%7f",
    "/\uff0fevil.example.com",
    "/\u2024\u2024/x",
    "/caf\u00e9",
    "/a%C0%AE%C0%AE/b",
    "/a%EF%BC%8Fb",
    "/a%EF%BC%8E%EF%BC%8E/b",
    "/a%E2%80%AEb",
    "/a%E2%80%A8",
    "/a%C2%A0b",
    "http://evil.example.com/x",
    "https:/x",
    "/x?y=%0d%0a",
    "/x?y=%E2%80%AE",
    "/x?y=a b",
    "/x?y=a@b",
    "/x#?y",
    # Servlet containers drop ';params' before resolving dot-segments; Windows trims dots.
    "/..;/admin",
    "/a/..;/b",
    "/a/..;jsessionid=1/b",
    "/.;/admin",
    "/a/..%3b/b",
    "/a/..%3B/b",
    "/a/.../b",
    "/a/..%20/b",
    "/;x/admin",
    "/a/%3bx/b",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_paths_are_rejected(cloud: DispatchSettings, path: str) -> None:
    error = reject(cloud, path)
    assert error.field == "path"


@pytest.mark.parametrize("path", [3, None, b"/tasks/x"])
def test_path_must_be_a_string(cloud: DispatchSettings, path: object) -> None:
    assert reject(cloud, path).field == "path"


GOOD_PATHS = [
    "/",
    "/tasks/transcribe",
    "/tasks/a-b_c.d~e",
    "/tasks/x?episode=42&mode=fast",
    "/v1/things:run",
    "/tasks/caf%C3%A9",
    "/tasks/%20space",
    "/tasks/x?next=/a//b",
    "/tasks/x?email=a%40b.example.com",
    "/tasks/x.y/z..w",
    "/tasks/x;v=1",
    "/a;b/c",
    "/tasks/..x/y",
]


@pytest.mark.parametrize("path", GOOD_PATHS)
def test_good_paths_become_base_url_plus_path(path: str) -> None:
    task = accept(path)
    assert task.url == BASE + path
    assert task.path == path


def test_base_url_path_and_trailing_slash_join_with_a_single_slash() -> None:
    task = accept("/tasks/x", settings=make_settings(base_url="https://w.example.com/api/"))
    assert task.url == "https://w.example.com/api/tasks/x"


@pytest.mark.parametrize("length", [2084, 1_000_000])
def test_very_long_paths_are_rejected_naming_the_limit(
    cloud: DispatchSettings, length: int
) -> None:
    error = reject(cloud, "/" + "a" * (length - 1))
    assert error.field == "path"
    assert f"path is {length} characters" in str(error)


def test_url_length_limit_is_2083() -> None:
    room = 2083 - len(BASE) - len("/")
    assert len(accept("/" + "a" * room).url) == 2083
    with capture_tasks() as captured, pytest.raises(DispatchConfigError, match="2083"):
        enqueue_http_task("/" + "a" * (room + 1), settings=make_settings())
    assert len(captured) == 0


_PATH_ALPHABET = st.sampled_from(
    [*"/.%:@?#\\ aZ09-_~!$&'()*+,;=\r\n\t", "%2e", "%2f", "%5c", "%25", "\uff0f", "\u2024"]
)


@hyp_settings(max_examples=400, deadline=None)
@given(st.lists(_PATH_ALPHABET, max_size=20).map(lambda parts: "/" + "".join(parts)) | st.text())
def test_an_accepted_path_never_leaves_the_base_url(path: str) -> None:
    settings = make_settings(base_url="https://worker.example.com/base")
    try:
        with capture_tasks() as captured:
            enqueue_http_task(path, settings=settings)
    except DispatchConfigError:
        return
    url = captured[0].url
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "worker.example.com")
    assert parts.path.startswith("/base/") or parts.path == "/base/"
    decoded = unquote(parts.path)
    assert "//" not in decoded
    assert "\\" not in decoded
    assert posixpath.normpath(decoded) == decoded.rstrip("/") or decoded == "/base/"
    # Read as a servlet container does (';params' dropped), it still resolves to itself.
    no_params = "/".join(seg.split(";", 1)[0] for seg in decoded.split("/"))
    assert ".." not in no_params.split("/")
    assert "." not in no_params.split("/")
    assert not parts.fragment
    assert all(32 < ord(c) < 127 for c in url)


# --- settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "variable"),
    [
        ("project", "TASKS_PROJECT"),
        ("location", "TASKS_LOCATION"),
        ("queue", "TASKS_QUEUE"),
        ("base_url", "TASKS_BASE_URL"),
    ],
)
def test_missing_config_names_the_variable(
    cloud: DispatchSettings, missing: str, variable: str
) -> None:
    settings = DispatchSettings(**{**cloud.__dict__, missing: None})
    error = reject(settings)
    assert error.field == variable
    assert variable in str(error)


def test_missing_project_mentions_google_cloud_project(cloud: DispatchSettings) -> None:
    settings = DispatchSettings(**{**cloud.__dict__, "project": None})
    assert "GOOGLE_CLOUD_PROJECT" in str(reject(settings))


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("project", "my/project", "TASKS_PROJECT"),
        ("location", "us central", "TASKS_LOCATION"),
        ("queue", "jobs/../x", "TASKS_QUEUE"),
        ("queue", "q" * 101, "TASKS_QUEUE"),
    ],
)
def test_invalid_queue_parts_are_rejected(
    cloud: DispatchSettings, field: str, value: str, variable: str
) -> None:
    settings = DispatchSettings(**{**cloud.__dict__, field: value})
    assert reject(settings).field == variable


@pytest.mark.parametrize("queue", ["bad queue", "a/b", "", "x" * 101])
def test_queue_argument_must_be_a_queue_id(cloud: DispatchSettings, queue: str) -> None:
    assert reject(cloud, queue=queue).field == "queue"


def test_queue_argument_overrides_the_configured_queue() -> None:
    task = accept(queue="other-queue")
    assert task.queue == "other-queue"
    assert task.name.startswith("projects/test-project/locations/us-central1/queues/other-queue/")


@pytest.mark.parametrize(
    "base_url",
    [
        "ftp://worker.example.com",
        "https://user:pw@worker.example.com",
        "https://worker.example.com@evil.example.com",
        "https://worker.example.com/?q=1",
        "https://worker.example.com/#f",
        "worker.example.com",
        "https://",
        "https://worker.example.com:0",
        "https://worker.example.com:99999",
        "https://wor ker.example.com",
        "https://worker.example.com/a/../b",
        "https://worker.example.com//x",
        "https://w\u00f6rker.example.com",
        "https://ex%61mple.com",
        "https://worker.example.com%2f.evil.example.com",
        "http://[::1",
        "http://[not-an-ip]:8080",
        "http://[::1]:8080/a[b]",
        "http://[fe80::1%25eth0]:8080",
        "https://worker.example.com/a/..;/b",
        "http://worker.example.com,evil.example.com",
        "http://worker;x",
        "http://worker!",
        "http://worker*.example.com",
        "http://worker$x",
        "http://worker&x=1",
        "http://worker'x",
        "http://worker:+80",
    ],
)
def test_bad_base_url_is_rejected(cloud: DispatchSettings, base_url: str) -> None:
    settings = DispatchSettings(**{**cloud.__dict__, "base_url": base_url})
    assert reject(settings).field == "TASKS_BASE_URL"


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("http://[::1]:8080", "http://[::1]:8080/tasks/x"),
        ("http://[::1]:8080/api/", "http://[::1]:8080/api/tasks/x"),
        ("HTTPS://Worker.Example.com:8443", "https://Worker.Example.com:8443/tasks/x"),
        ("http://my_worker:8000", "http://my_worker:8000/tasks/x"),
        ("http://127.0.0.2", "http://127.0.0.2/tasks/x"),
    ],
)
def test_ipv6_and_mixed_case_base_urls_are_accepted(base_url: str, url: str) -> None:
    assert accept("/tasks/x", settings=make_settings(base_url=base_url)).url == url


# --- headers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Host",
        "content-length",
        "User-Agent",
        "Content-Type",
        "Authorization",
        "X-CloudTasks-TaskName",
        "x-google-anything",
        "X-AppEngine-Country",
        "Transfer-Encoding",
        "Connection",
        "Proxy-Authorization",
    ],
)
def test_headers_cloud_tasks_sets_or_forbids_are_rejected(
    cloud: DispatchSettings, name: str
) -> None:
    error = reject(cloud, headers={name: "v"})
    assert error.field == "headers"
    assert name in str(error)


@pytest.mark.parametrize("name", ["Bad Header", "X:Y", "", "X\r\nY", "Ünï", "a" * 257])
def test_header_names_must_be_http_tokens(cloud: DispatchSettings, name: str) -> None:
    assert reject(cloud, headers={name: "v"}).field == "headers"


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\r\nX-Evil: 1", "a\x00b", "caf\u00e9", "\x7f"])
def test_header_values_must_be_single_line_printable_ascii(
    cloud: DispatchSettings, value: str
) -> None:
    error = reject(cloud, headers={"X-Trace": value})
    assert error.field == "headers"
    assert value not in str(error)


def test_header_names_are_case_insensitive_duplicates(cloud: DispatchSettings) -> None:
    assert "twice" in str(reject(cloud, headers={"X-A": "1", "x-a": "2"}))


def test_header_value_must_be_str(cloud: DispatchSettings) -> None:
    assert reject(cloud, headers={"X-A": 1}).field == "headers"


def test_header_name_must_be_str(cloud: DispatchSettings) -> None:
    error = reject(cloud, headers={b"X-A": "v"})
    assert error.field == "headers"
    assert "must be str, got bytes" in str(error)


def test_headers_must_total_less_than_80_kb(cloud: DispatchSettings) -> None:
    assert "80 KB" in str(reject(cloud, headers={"X-Big": "a" * (80 * 1024)}))


def test_custom_headers_travel_with_the_json_content_type() -> None:
    task = accept(headers={"X-Request-Id": "abc-123", "X-Tenant": "t1"})
    assert task.headers == {
        "Content-Type": "application/json",
        "X-Request-Id": "abc-123",
        "X-Tenant": "t1",
    }


# --- payload --------------------------------------------------------------------------


class _Circular(dict[str, Any]):
    pass


def _circular() -> dict[str, Any]:
    data: dict[str, Any] = {}
    data["self"] = data
    return data


@pytest.mark.parametrize(
    "payload",
    [{1, 2}, object(), float("nan"), {"x": float("inf")}, b"bytes", "\ud800", datetime.now()],
    ids=["set", "object", "nan", "inf", "bytes", "surrogate", "datetime"],
)
def test_payload_must_be_json_serialisable(cloud: DispatchSettings, payload: Any) -> None:
    assert reject(cloud, payload=payload).field == "payload"


def test_circular_payload_is_rejected(cloud: DispatchSettings) -> None:
    assert reject(cloud, payload=_circular()).field == "payload"


class _Exploding(dict[str, Any]):
    """A mapping whose own code fails while it is encoded, quoting a value as it does."""

    def items(self) -> Any:
        raise KeyError("payload-secret-in-a-key-error")


def test_a_payload_that_raises_while_encoded_is_a_config_error_without_its_message(
    cloud: DispatchSettings,
) -> None:
    with structlog.testing.capture_logs() as logs:
        error = reject(cloud, payload=_Exploding(a=1))
    assert error.field == "payload"
    assert "KeyError" in str(error)
    assert "payload-secret" not in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__ is True
    assert "payload-secret" not in repr(logs)


def test_an_int_too_long_to_print_is_refused(cloud: DispatchSettings) -> None:
    assert reject(cloud, payload={"n": 10**5000}).field == "payload"


def test_body_is_always_json_bytes() -> None:
    task = accept(payload={"title": "Épisode 1", "n": [1, 2.5, None, True]})
    assert isinstance(task.body, bytes)
    assert task.body == '{"title":"Épisode 1","n":[1,2.5,null,true]}'.encode()
    assert task.payload == {"title": "Épisode 1", "n": [1, 2.5, None, True]}
    assert task.headers["Content-Type"] == "application/json"


def test_a_str_payload_is_a_json_string_not_a_raw_body() -> None:
    # The client base64-decodes a str body; a str payload must arrive as JSON bytes.
    assert accept(payload="aGVsbG8=").body == b'"aGVsbG8="'


def test_no_payload_is_an_empty_json_object() -> None:
    assert accept().body == b"{}"


def test_task_over_1_mb_is_rejected(cloud: DispatchSettings) -> None:
    error = reject(cloud, payload={"blob": "a" * (1024 * 1024)})
    assert "1 MB" in str(error)
    assert accept(payload={"blob": "a" * (1024 * 1024 - 4096)}).payload["blob"][:3] == "aaa"


# --- task id, schedule, deadline ------------------------------------------------------


@pytest.mark.parametrize(
    "task_id",
    ["", "a" * 501, "has space", "slash/x", "dot.x", "\u00fcn\u00ef", "a\n", 5, "a%2F"],
)
def test_task_id_outside_the_alphabet_is_rejected(cloud: DispatchSettings, task_id: Any) -> None:
    assert reject(cloud, task_id=task_id).field == "task_id"


@pytest.mark.parametrize("task_id", ["a" * 500, "A-b_9", "0"])
def test_task_ids_in_the_alphabet_name_the_task(task_id: str) -> None:
    task = accept(task_id=task_id)
    assert task.task_id == task_id
    assert task.name.endswith(f"/tasks/{task_id}")


def test_unnamed_tasks_get_distinct_random_ids() -> None:
    ids = {accept().task_id for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 32 and i.isalnum() for i in ids)


def test_naive_schedule_time_is_rejected(cloud: DispatchSettings) -> None:
    assert "timezone-aware" in str(reject(cloud, schedule_time=datetime.now()))


def test_schedule_time_more_than_30_days_ahead_is_rejected(cloud: DispatchSettings) -> None:
    later = datetime.now(timezone.utc) + timedelta(days=30, minutes=5)
    assert reject(cloud, schedule_time=later).field == "schedule_time"


def test_schedule_time_must_be_a_datetime(cloud: DispatchSettings) -> None:
    assert reject(cloud, schedule_time=datetime.now(timezone.utc).date()).field == "schedule_time"
    assert reject(cloud, schedule_time="2030-01-01T00:00:00Z").field == "schedule_time"


def test_delay_and_schedule_time_are_exclusive(cloud: DispatchSettings) -> None:
    error = reject(cloud, delay=5, schedule_time=datetime.now(timezone.utc))
    assert "not both" in str(error)


@pytest.mark.parametrize(
    "delay",
    [
        -1,
        timedelta(seconds=-1),
        timedelta(days=31),
        "5",
        True,
        float("nan"),
        float("inf"),
        1e300,
        -1e300,
        timedelta.max,
        timedelta.min,
    ],
)
def test_bad_delays_are_rejected(cloud: DispatchSettings, delay: Any) -> None:
    assert reject(cloud, delay=delay).field == "delay"


@pytest.mark.parametrize(
    "when",
    [
        datetime.min.replace(tzinfo=timezone(timedelta(hours=1))),
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-1))),
        datetime.max.replace(tzinfo=timezone.utc),
    ],
)
def test_schedule_times_without_a_utc_equivalent_are_rejected(
    cloud: DispatchSettings, when: datetime
) -> None:
    assert reject(cloud, schedule_time=when).field == "schedule_time"


class _DayLongOffset(tzinfo):
    """A tzinfo datetime itself refuses: offsets must be under a day."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=30)

    def dst(self, dt: datetime | None) -> None:
        return None


class _BrokenZone(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta:
        raise RuntimeError("zone database unavailable")

    def dst(self, dt: datetime | None) -> None:
        return None


@pytest.mark.parametrize("zone", [_DayLongOffset(), _BrokenZone()])
def test_schedule_time_whose_tzinfo_fails_is_rejected_and_logged(
    cloud: DispatchSettings, zone: tzinfo
) -> None:
    # The sync and async twins both refuse it as DispatchConfigError under the documented
    # event, not a bare ValueError/RuntimeError from inside the tzinfo.
    when = datetime(2030, 1, 1, tzinfo=zone)
    with structlog.testing.capture_logs() as logs:
        assert reject(cloud, schedule_time=when).field == "schedule_time"
        with pytest.raises(DispatchConfigError) as info:
            asyncio.run(enqueue_http_task_async("/tasks/x", settings=cloud, schedule_time=when))
    assert info.value.field == "schedule_time"
    assert [log["event"] for log in logs] == ["tasks.enqueue_http_task.task_build_failed"] * 2


def test_schedule_time_is_converted_to_utc_and_may_be_in_the_past() -> None:
    tz = timezone(timedelta(hours=5, minutes=30))
    when = datetime(2020, 1, 1, 12, 0, tzinfo=tz)
    task = accept(schedule_time=when)
    assert task.schedule_time == when
    assert task.schedule_time.tzinfo == timezone.utc


def test_delay_schedules_relative_to_now() -> None:
    before = datetime.now(timezone.utc)
    task = accept(delay=timedelta(minutes=10))
    after = datetime.now(timezone.utc)
    assert before + timedelta(minutes=10) <= task.schedule_time <= after + timedelta(minutes=10)
    seconds = accept(delay=90)
    assert seconds.schedule_time - before >= timedelta(seconds=90)


@pytest.mark.parametrize(
    "deadline",
    [14.9, 1800.5, timedelta(minutes=31), timedelta(seconds=0), True, "20", 1e300, -20],
)
def test_deadline_outside_15s_to_30min_is_rejected(cloud: DispatchSettings, deadline: Any) -> None:
    assert reject(cloud, dispatch_deadline=deadline).field == "dispatch_deadline"


@pytest.mark.parametrize("deadline", [15, 1800, timedelta(minutes=10)])
def test_deadline_bounds_are_inclusive(deadline: Any) -> None:
    expected = deadline if isinstance(deadline, timedelta) else timedelta(seconds=deadline)
    assert accept(dispatch_deadline=deadline).dispatch_deadline == expected


# --- OIDC -----------------------------------------------------------------------------


def test_oidc_audience_defaults_to_the_base_url() -> None:
    task = accept(settings=make_settings(service_account_email="tasks@p.iam.gserviceaccount.com"))
    assert task.oidc_service_account_email == "tasks@p.iam.gserviceaccount.com"
    assert task.oidc_audience == BASE
    custom = accept(
        settings=make_settings(
            service_account_email="tasks@p.iam.gserviceaccount.com",
            oidc_audience="https://aud.example.com",
        )
    )
    assert custom.oidc_audience == "https://aud.example.com"


def test_malformed_service_account_email_is_rejected(cloud: DispatchSettings) -> None:
    settings = DispatchSettings(**{**cloud.__dict__, "service_account_email": "not an email"})
    assert reject(settings).field == "TASKS_SERVICE_ACCOUNT_EMAIL"


# --- the failure is logged under the event DESIGN.md names ----------------------------


@pytest.mark.parametrize(
    ("change", "kwargs", "event"),
    [
        ({"queue": None}, {}, "tasks.enqueue_http_task.config_missing"),
        ({"base_url": None}, {}, "tasks.enqueue_http_task.base_url_missing"),
        ({"project": "a/b"}, {}, "tasks.enqueue_http_task.queue_path_failed"),
        ({}, {"path": "//evil.example.com"}, "tasks.enqueue_http_task.http_request_build_failed"),
        ({}, {"headers": {"Host": "x"}}, "tasks.enqueue_http_task.http_request_build_failed"),
        ({}, {"payload": {1, 2}}, "tasks.enqueue_http_task.http_request_build_failed"),
        ({}, {"task_id": "a b"}, "tasks.enqueue_http_task.task_build_failed"),
        ({}, {"dispatch_deadline": 1}, "tasks.enqueue_http_task.task_build_failed"),
        ({}, {"delay": -1}, "tasks.enqueue_http_task.task_build_failed"),
    ],
)
def test_each_rejection_logs_its_event(
    cloud: DispatchSettings, change: dict[str, Any], kwargs: dict[str, Any], event: str
) -> None:
    settings = DispatchSettings(**{**cloud.__dict__, **change})
    path = kwargs.pop("path", "/tasks/x")
    payload = kwargs.pop("payload", None)
    with structlog.testing.capture_logs() as logs:
        error = reject(settings, path, payload, **kwargs)
    assert [entry["event"] for entry in logs] == [event]
    assert logs[0]["log_level"] == "error"
    assert logs[0]["field"] == error.field


def test_an_invalid_queue_argument_is_not_logged(cloud: DispatchSettings) -> None:
    bad = "queue-secret " * 1000
    with structlog.testing.capture_logs() as logs:
        reject(cloud, queue=bad)
    assert [e["event"] for e in logs] == ["tasks.enqueue_http_task.queue_path_failed"]
    assert logs[0]["queue"] is None
    assert "queue-secret" not in repr(logs)


class _Sneaky(str):
    """A str that hides its characters from the usual checks and lies when formatted."""

    __slots__ = ()

    def __contains__(self, item: object) -> bool:
        return False

    def __iter__(self) -> Any:
        return iter("a")

    def split(self, *args: Any, **kwargs: Any) -> Any:
        return ["", "a"]

    def partition(self, sep: str) -> Any:
        return ("/a", "", "")

    def startswith(self, *args: Any, **kwargs: Any) -> bool:
        return True

    def __format__(self, spec: str) -> str:
        return "formatted-differently"

    def __str__(self) -> str:
        return "/innocent"


@pytest.mark.parametrize(
    "path",
    ["//evil.example.com/x", "/a/../admin", "/a\r\nHost: evil.example.com", "/a\\b", "/..;/x"],
)
def test_a_str_subclass_cannot_hide_a_bad_path(cloud: DispatchSettings, path: str) -> None:
    assert reject(cloud, _Sneaky(path)).field == "path"


def test_str_subclasses_are_carried_as_plain_str() -> None:
    task = accept(
        _Sneaky("/tasks/x"),
        task_id=_Sneaky("t-1"),
        queue=_Sneaky("other"),
        headers={_Sneaky("X-A"): _Sneaky("v")},
        settings=make_settings(queue=_Sneaky("q"), base_url=_Sneaky("https://w.example.com")),
    )
    assert task.name == "projects/test-project/locations/us-central1/queues/other/tasks/t-1"
    assert task.url == "https://w.example.com/tasks/x"
    assert type(task.path) is str
    assert type(task.task_id) is str
    assert type(task.queue) is str
    assert all(type(k) is str and type(v) is str for k, v in task.headers.items())
    settings = make_settings(queue=_Sneaky("q"))
    assert type(settings.queue) is str
    assert settings.queue_path == "projects/test-project/locations/us-central1/queues/q"


@pytest.mark.parametrize("value", ["v\r\nX-Injected: 1", "caf\u00e9"])
def test_a_str_subclass_cannot_hide_a_bad_header_value(cloud: DispatchSettings, value: str) -> None:
    assert reject(cloud, headers={"X-A": _Sneaky(value)}).field == "headers"
