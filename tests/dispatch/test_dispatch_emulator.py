"""enqueue_http_task and enqueue_many with the real google-cloud-tasks client over gRPC,
against dispatch.emulator on loopback, delivering to a real HTTP server."""

from __future__ import annotations

import base64
import collections
import dataclasses
import hashlib
import json
import pickle
import random
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import grpc
import pytest
import structlog
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from dispatch_support import http_receiver, run_python
from google.cloud import tasks_v2

from dispatch import (
    BulkEnqueueError,
    DispatchConfigError,
    DispatchSettings,
    DuplicateTaskError,
    TaskCreationError,
    enqueue_http_task,
    enqueue_many,
)
from dispatch.emulator import Emulator
from dispatch.worker import parse_task_headers

QUEUE_PATH = "projects/taskguard-test/locations/us-central1/queues/default"
SERVICE_ACCOUNT = "tasks@taskguard-test.iam.gserviceaccount.com"


@pytest.fixture
def emu(cloud_tasks_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    # Nothing listens on port 9 of loopback: tests that need deliveries set their own URL.
    monkeypatch.setenv("TASKS_BASE_URL", "http://127.0.0.1:9")
    return cloud_tasks_emulator


def fast(**overrides: Any) -> DispatchSettings:
    """Settings from the environment with short backoffs, so retry tests stay quick."""
    values: dict[str, Any] = {"initial_backoff": 0.01, "max_backoff": 0.05}
    values.update(overrides)
    return DispatchSettings.from_env(**values)


@pytest.fixture
def paused(emu: Emulator) -> Iterator[tasks_v2.CloudTasksClient]:
    """The emulator's queue, paused so stored tasks are not delivered, and a raw client."""
    channel = grpc.insecure_channel(emu.address)
    client = tasks_v2.CloudTasksClient(
        transport=tasks_v2.services.cloud_tasks.transports.CloudTasksGrpcTransport(channel=channel)
    )
    client.pause_queue(name=QUEUE_PATH)
    yield client
    channel.close()


def stored(emu: Emulator) -> dict[str, tasks_v2.Task]:
    return {task.name: task for task in emu.tasks()}


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_jwt(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """Verify an RS256 JWT against a JWKS with cryptography; return its claims."""
    header_b64, claims_b64, signature_b64 = token.split(".")
    header = json.loads(_b64url(header_b64))
    assert header["alg"] == "RS256"
    (key,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    public = rsa.RSAPublicNumbers(
        int.from_bytes(_b64url(key["e"]), "big"), int.from_bytes(_b64url(key["n"]), "big")
    ).public_key()
    public.verify(
        _b64url(signature_b64),
        f"{header_b64}.{claims_b64}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    claims: dict[str, Any] = json.loads(_b64url(claims_b64))
    return claims


# --- creation and delivery ------------------------------------------------------------


def test_created_and_delivered_with_url_body_content_type_and_oidc(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with http_receiver() as receiver:
        monkeypatch.setenv("TASKS_BASE_URL", receiver.base_url)
        monkeypatch.setenv("TASKS_SERVICE_ACCOUNT_EMAIL", SERVICE_ACCOUNT)
        payload = {"episode_id": 42, "title": "Épisode 42"}
        name = enqueue_http_task(
            "/tasks/transcribe?lang=en",
            payload,
            task_id="episode-42",
            headers={"X-Request-Id": "req-1"},
        )
        (request,) = receiver.wait_for(1)

    assert name == f"{QUEUE_PATH}/tasks/episode-42"
    assert request.path == "/tasks/transcribe?lang=en"
    assert request.body == json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    assert json.loads(request.body) == payload
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"] == "req-1"
    assert headers["user-agent"] == "Google-Cloud-Tasks"
    scheme, token = headers["authorization"].split(" ", 1)
    assert scheme == "Bearer"
    claims = verify_jwt(token, emu.public_jwks())
    assert claims["aud"] == receiver.base_url
    assert claims["email"] == SERVICE_ACCOUNT
    delivery = parse_task_headers(request.headers)
    assert (delivery.queue_name, delivery.task_name, delivery.retry_count) == (
        "default",
        "episode-42",
        0,
    )


def test_oidc_audience_setting_is_the_token_audience(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with http_receiver() as receiver:
        monkeypatch.setenv("TASKS_BASE_URL", receiver.base_url)
        monkeypatch.setenv("TASKS_SERVICE_ACCOUNT_EMAIL", SERVICE_ACCOUNT)
        monkeypatch.setenv("TASKS_OIDC_AUDIENCE", "https://worker.example.com")
        enqueue_http_task("/tasks/x", {"a": 1})
        (request,) = receiver.wait_for(1)
    token = request.headers["Authorization"].removeprefix("Bearer ")
    assert verify_jwt(token, emu.public_jwks())["aud"] == "https://worker.example.com"


def test_without_a_service_account_no_token_is_sent(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with http_receiver() as receiver:
        monkeypatch.setenv("TASKS_BASE_URL", receiver.base_url)
        enqueue_http_task("/tasks/x", {"a": 1})
        (request,) = receiver.wait_for(1)
    assert "authorization" not in {k.lower() for k in request.headers}


@pytest.mark.usefixtures("paused")
def test_stored_task_has_bytes_body_post_and_generated_random_id(emu: Emulator) -> None:
    name = enqueue_http_task("/tasks/x", {"n": 1})
    task = stored(emu)[name]
    assert name.startswith(f"{QUEUE_PATH}/tasks/")
    task_id = name.rsplit("/", 1)[1]
    assert len(task_id) == 32
    int(task_id, 16)
    assert task.http_request.body == b'{"n":1}'
    assert task.http_request.http_method == tasks_v2.HttpMethod.POST
    assert task.http_request.url == "http://127.0.0.1:9/tasks/x"
    assert task.http_request.headers["Content-Type"] == "application/json"


@pytest.mark.usefixtures("paused")
def test_delay_schedule_time_and_deadline_reach_the_task(emu: Emulator) -> None:
    before = datetime.now(timezone.utc)
    delayed = enqueue_http_task("/tasks/x", delay=timedelta(minutes=10), dispatch_deadline=45)
    after = datetime.now(timezone.utc)
    when = datetime(2031, 1, 1, tzinfo=timezone.utc)
    when = min(when, before + timedelta(days=1))
    scheduled = enqueue_http_task("/tasks/y", schedule_time=when)
    tasks = stored(emu)
    delayed_at = tasks[delayed].schedule_time
    assert before + timedelta(minutes=10) <= delayed_at <= after + timedelta(minutes=10)
    assert tasks[delayed].dispatch_deadline == timedelta(seconds=45)
    assert tasks[scheduled].schedule_time == when


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_an_ipv6_emulator_host_is_reached_and_delivers() -> None:
    with Emulator(host="::1", port=0, queues=[QUEUE_PATH]) as emulator, http_receiver() as receiver:
        settings = DispatchSettings(
            project="taskguard-test",
            location="us-central1",
            queue="default",
            base_url=receiver.base_url,
            emulator_host=emulator.address,
        )
        assert settings.emulator_host is not None
        assert settings.emulator_host.startswith("[::1]:")
        name = enqueue_http_task("/tasks/v6", {"v": 6}, task_id="over-ipv6", settings=settings)
        (request,) = receiver.wait_for(1)
    assert name == f"{QUEUE_PATH}/tasks/over-ipv6"
    assert (request.path, json.loads(request.body)) == ("/tasks/v6", {"v": 6})


# --- dedup ----------------------------------------------------------------------------


@pytest.mark.usefixtures("paused")
def test_reused_task_id_is_duplicate_task_error(emu: Emulator) -> None:
    first = enqueue_http_task("/tasks/x", {"v": 1}, task_id="once")
    with structlog.testing.capture_logs() as logs, pytest.raises(DuplicateTaskError) as info:
        enqueue_http_task("/tasks/x", {"v": 2}, task_id="once")
    assert info.value.task_name == first
    assert info.value.attempts == 1
    assert info.value.outcome_unknown is False
    assert [e["event"] for e in logs] == [
        "tasks.enqueue_http_task.start",
        "tasks.enqueue_http_task.duplicate",
    ]
    assert json.loads(stored(emu)[first].http_request.body) == {"v": 1}


# --- retries --------------------------------------------------------------------------


@pytest.mark.usefixtures("paused")
def test_unavailable_bursts_are_retried_and_logged(emu: Emulator) -> None:
    emu.fail_next(3)
    with structlog.testing.capture_logs() as logs:
        name = enqueue_http_task("/tasks/x", {"v": 1}, task_id="retried", settings=fast())
    assert [e["event"] for e in logs] == [
        "tasks.enqueue_http_task.start",
        "tasks.enqueue_http_task.retry",
        "tasks.enqueue_http_task.retry",
        "tasks.enqueue_http_task.retry",
        "tasks.enqueue_http_task.created",
    ]
    assert logs[0]["log_level"] == "info"  # the seed checks for it at the default level
    assert [e["log_level"] for e in logs[1:]] == ["warning"] * 3 + ["info"]
    assert [e["attempt"] for e in logs[1:]] == [1, 2, 3, 4]
    assert all(e["code"] == "UNAVAILABLE" for e in logs[1:4])
    durations = [e["duration_ms"] for e in logs[1:]]
    assert durations == sorted(durations)
    assert durations[0] > 0
    created = logs[-1]
    assert created["task_name"] == name
    assert created["duration_ms"] > 0
    assert list(stored(emu)) == [name]


@pytest.mark.parametrize("task_id", ["landed-once", None])
@pytest.mark.usefixtures("paused")
def test_a_lost_answer_is_recovered_without_a_second_task(
    emu: Emulator, task_id: str | None
) -> None:
    # The first CreateTask takes effect but its answer is UNAVAILABLE; the retry then
    # meets ALREADY_EXISTS for the very same name, which means "it landed".
    emu.fail_next(1, grpc.StatusCode.UNAVAILABLE, after_commit=True)
    with structlog.testing.capture_logs() as logs:
        name = enqueue_http_task("/tasks/x", {"v": 1}, task_id=task_id, settings=fast())
    assert list(stored(emu)) == [name]
    assert logs[-1]["event"] == "tasks.enqueue_http_task.created"
    assert logs[-1]["recovered"] is True
    assert logs[-1]["attempt"] == 2


@pytest.mark.usefixtures("paused")
def test_deadline_exceeded_is_retried_and_never_duplicates(emu: Emulator) -> None:
    emu.delay_next(1, 0.6)
    with structlog.testing.capture_logs() as logs:
        name = enqueue_http_task("/tasks/x", {"v": 1}, settings=fast(attempt_timeout=0.2))
    assert logs[1]["event"] == "tasks.enqueue_http_task.retry"
    assert logs[1]["code"] == "DEADLINE_EXCEEDED"
    assert logs[-1]["event"] == "tasks.enqueue_http_task.created"
    # The delayed first call is still served after its client gave up: wait it out, then count.
    deadline = time.monotonic() + 10
    while emu.rpcs_received("CreateTask") < 2:  # the held first call may start late
        assert time.monotonic() < deadline, emu.rpcs_received("CreateTask")
        time.sleep(0.005)
    emu.wait_rpcs_idle(timeout=10)
    assert emu.rpcs_received("CreateTask") == 2
    assert list(stored(emu)) == [name]


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.FAILED_PRECONDITION,
    ],
)
@pytest.mark.usefixtures("paused")
def test_non_transient_errors_are_not_retried(emu: Emulator, code: grpc.StatusCode) -> None:
    emu.fail_next(1, code)
    with structlog.testing.capture_logs() as logs, pytest.raises(TaskCreationError) as info:
        enqueue_http_task("/tasks/x", {"v": 1}, settings=fast())
    error = info.value
    assert type(error) is TaskCreationError
    assert (error.code, error.attempts, error.outcome_unknown) == (code.name, 1, False)
    assert isinstance(error.__cause__, Exception)
    assert type(error.__cause__).__module__.startswith("google.api_core")
    assert [e["event"] for e in logs] == [
        "tasks.enqueue_http_task.start",
        "tasks.enqueue_http_task.create_failed",
    ]
    assert stored(emu) == {}


@pytest.mark.parametrize("code", [grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED])
@pytest.mark.usefixtures("paused")
def test_ambiguous_errors_are_not_retried_but_say_the_task_may_exist(
    emu: Emulator, code: grpc.StatusCode
) -> None:
    emu.fail_next(1, code, after_commit=True)
    with pytest.raises(TaskCreationError) as info:
        enqueue_http_task("/tasks/x", {"v": 1}, task_id="maybe", settings=fast())
    error = info.value
    assert (error.code, error.attempts, error.outcome_unknown) == (code.name, 1, True)
    assert "re-send with task_id='maybe'" in str(error)
    # It did land: re-sending with the same id is how the caller finds out.
    with pytest.raises(DuplicateTaskError):
        enqueue_http_task("/tasks/x", {"v": 1}, task_id="maybe", settings=fast())
    assert list(stored(emu)) == [f"{QUEUE_PATH}/tasks/maybe"]


@pytest.mark.usefixtures("paused")
def test_a_task_accepted_before_the_rpc_is_within_the_services_1_mb(emu: Emulator) -> None:
    # Thousands of short headers (well under 80 KB) cost the serialised task a map entry
    # each, more than their names and values: the size check must count that, or the
    # largest payload it accepts is refused by the service as INVALID_ARGUMENT.
    headers = {f"x{i}": "" for i in range(9000)}
    settings = fast()
    dry = dataclasses.replace(settings, dry_run=True)
    lo, hi = 0, 1024 * 1024  # the largest payload string accepted is in [lo, hi]
    refused_field = None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            enqueue_http_task("/big", "x" * mid, headers=headers, settings=dry)
        except DispatchConfigError as exc:
            refused_field = exc.field
            hi = mid - 1
        else:
            lo = mid
    assert refused_field == "payload"
    assert lo > 900_000  # the headers must not have cost the payload more than they weigh
    name = enqueue_http_task("/big", "x" * lo, headers=headers, settings=settings)
    task = stored(emu)[name]
    assert len(task.http_request.body) == lo + 2
    with pytest.raises(DispatchConfigError) as info:
        enqueue_http_task("/big", "x" * (lo + 1), headers=headers, settings=settings)
    assert info.value.field == "payload"
    assert emu.rpcs_received("CreateTask") == 1


@pytest.mark.usefixtures("paused")
def test_missing_queue_is_not_found(emu: Emulator) -> None:
    with pytest.raises(TaskCreationError) as info:
        enqueue_http_task("/tasks/x", queue="no-such-queue", settings=fast())
    assert info.value.code == "NOT_FOUND"
    assert info.value.attempts == 1


@pytest.mark.usefixtures("paused")
def test_budget_spent_raises_task_creation_error(emu: Emulator) -> None:
    emu.fail_next(100_000)
    with structlog.testing.capture_logs() as logs, pytest.raises(TaskCreationError) as info:
        enqueue_http_task("/tasks/x", {"v": 1}, task_id="never", settings=fast(retry_budget=0.5))
    emu.clear_faults()
    error = info.value
    assert error.code == "UNAVAILABLE"
    assert error.attempts >= 2
    assert error.outcome_unknown is True
    assert error.task_name == f"{QUEUE_PATH}/tasks/never"
    assert "retry budget 0.5s" in str(error)
    assert logs[-1]["event"] == "tasks.enqueue_http_task.create_failed"
    assert logs[-1]["attempt"] == error.attempts
    assert stored(emu) == {}


def test_emulator_down_gives_task_creation_error_within_the_budget() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = DispatchSettings(
        project="p",
        location="l",
        queue="q",
        base_url="http://127.0.0.1:9",
        emulator_host=f"127.0.0.1:{port}",
        retry_budget=1.0,
        initial_backoff=0.05,
        max_backoff=0.2,
    )
    started = time.monotonic()
    with pytest.raises(TaskCreationError) as info:
        enqueue_http_task("/tasks/x", {"v": 1}, settings=settings)
    elapsed = time.monotonic() - started
    assert info.value.code == "UNAVAILABLE"
    assert info.value.attempts >= 2
    # A correctness bound (the budget is honoured, nothing retries forever), not a speed test.
    assert elapsed < 1.0 + 2.0


# --- logs never carry payloads, header values or tokens -------------------------------


@pytest.mark.usefixtures("paused")
def test_no_payload_header_or_query_value_is_ever_logged(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKS_SERVICE_ACCOUNT_EMAIL", SERVICE_ACCOUNT)
    secrets = ["payload-secret-1", "header-secret-2", "query-secret-3", "nested-secret-4"]
    payload = {"password": secrets[0], "deep": [{"k": secrets[3]}]}
    kwargs: dict[str, Any] = {
        "headers": {"X-Api-Key": secrets[1]},
        "settings": fast(retry_budget=0.3),
    }
    path = f"/tasks/x?token={secrets[2]}"
    with structlog.testing.capture_logs() as logs:
        emu.fail_next(2)
        enqueue_http_task(path, payload, task_id="secretive", **kwargs)
        with pytest.raises(DuplicateTaskError):
            enqueue_http_task(path, payload, task_id="secretive", **kwargs)
        emu.fail_next(1, grpc.StatusCode.INVALID_ARGUMENT)
        with pytest.raises(TaskCreationError):
            enqueue_http_task(path, payload, **kwargs)
        emu.fail_next(100_000)
        with pytest.raises(TaskCreationError):
            enqueue_http_task(path, payload, **kwargs)
        emu.clear_faults()
        with pytest.raises(DispatchConfigError):
            enqueue_http_task(path, payload, task_id="bad id", **kwargs)
    events = {e["event"].rsplit(".", 1)[1] for e in logs}
    assert events == {
        "start",
        "retry",
        "created",
        "duplicate",
        "create_failed",
        "task_build_failed",
    }
    for entry in logs:
        if entry["event"] != "tasks.enqueue_http_task.task_build_failed":
            assert entry["path"] == "/tasks/x"
            assert entry["payload_size"] == len(json.dumps(payload, separators=(",", ":")))
    text = json.dumps(logs, default=str)
    for secret in secrets:
        assert secret not in text


# --- bulk -----------------------------------------------------------------------------


@pytest.mark.usefixtures("paused")
def test_enqueue_many_returns_names_in_order(emu: Emulator) -> None:
    items: list[Any] = []
    for i in range(40):
        if i % 2:
            items.append(("/tasks/bulk", {"i": i}))
        else:
            items.append({"path": "/tasks/bulk", "payload": {"i": i}, "task_id": f"bulk-{i}"})
    names = enqueue_many(items, max_workers=8, settings=fast())
    tasks = stored(emu)
    assert len(names) == 40
    assert len(tasks) == 40
    for i, name in enumerate(names):
        assert json.loads(tasks[name].http_request.body) == {"i": i}
    assert names[0] == f"{QUEUE_PATH}/tasks/bulk-0"


@pytest.mark.usefixtures("paused")
def test_enqueue_many_partial_failure_keeps_successes(emu: Emulator) -> None:
    taken = enqueue_http_task("/tasks/x", task_id="taken")
    items = [
        {"path": "/tasks/a", "payload": {"i": 0}},
        {"path": "/tasks/b", "payload": {"i": 1}, "task_id": "taken"},
        {"path": "/tasks/c", "payload": {"i": 2}},
        {"path": "/tasks/d", "payload": {"i": 3}, "queue": "no-such-queue"},
    ]
    with pytest.raises(BulkEnqueueError) as info:
        enqueue_many(items, settings=fast())
    error = pickle.loads(pickle.dumps(info.value))
    assert isinstance(error, BulkEnqueueError)
    assert [(i, type(e).__name__) for i, e in error.failures] == [
        (1, "DuplicateTaskError"),
        (3, "TaskCreationError"),
    ]
    assert error.names[1] is None
    assert error.names[3] is None
    tasks = stored(emu)
    assert set(tasks) == {taken, error.names[0], error.names[2]}
    assert json.loads(tasks[str(error.names[2])].http_request.body) == {"i": 2}
    assert "2 of 4 tasks failed (2 created)" in str(error)


@pytest.mark.usefixtures("paused")
def test_enqueue_many_sends_nothing_when_an_item_is_invalid(emu: Emulator) -> None:
    items: list[Any] = [("/tasks/ok", {"i": 0}), ("//evil.example.com", {}), ("/x", {1})]
    with pytest.raises(BulkEnqueueError) as info:
        enqueue_many(items, settings=fast())
    assert [i for i, _ in info.value.failures] == [1, 2]
    assert all(isinstance(e, DispatchConfigError) for _, e in info.value.failures)
    assert info.value.names == (None, None, None)
    assert stored(emu) == {}


@pytest.mark.usefixtures("paused")
def test_enqueue_many_refuses_one_task_id_given_twice_and_sends_nothing(emu: Emulator) -> None:
    # Sent concurrently, which of the two Cloud Tasks kept would depend on timing.
    items: list[Any] = [
        {"path": "/tasks/a", "task_id": "same"},
        {"path": "/tasks/b", "task_id": "other"},
        {"path": "/tasks/c", "task_id": "same"},
        {"path": "/tasks/d", "task_id": "same", "queue": "another-queue"},
    ]
    with structlog.testing.capture_logs() as logs, pytest.raises(BulkEnqueueError) as info:
        enqueue_many(items, settings=fast())
    ((index, error),) = info.value.failures
    assert index == 2
    assert isinstance(error, DispatchConfigError)
    assert error.field == "task_id"
    assert "also used by item 0" in str(error)
    assert [e["event"] for e in logs] == ["tasks.enqueue_http_task.task_build_failed"]
    assert stored(emu) == {}


def test_enqueue_many_rejects_bad_arguments() -> None:
    with pytest.raises(DispatchConfigError, match="max_workers"):
        enqueue_many([], max_workers=0)
    assert enqueue_many([], settings=DispatchSettings(dry_run=True)) == []
    malformed: list[Any] = [{"payload": {}}, {"path": "/x", "bogus": 1}, "/x"]
    with pytest.raises(BulkEnqueueError) as info:
        enqueue_many(malformed, settings=DispatchSettings(dry_run=True))
    assert [i for i, _ in info.value.failures] == [0, 1, 2]
    # Without a configuration to send with, that is said first, once, for all of them.
    with pytest.raises(DispatchConfigError, match="missing configuration") as missing:
        enqueue_many(malformed, settings=DispatchSettings())
    assert not isinstance(missing.value, BulkEnqueueError)
    for items in ("/tasks/x", b"/tasks/x", {"path": "/tasks/x"}, None, 3):
        with pytest.raises(DispatchConfigError, match="items must be an iterable") as error:
            enqueue_many(items, settings=DispatchSettings(dry_run=True))  # type: ignore[arg-type]
        assert error.value.field == "items"


# --- volume: 10,000 tasks from 8 threads under injected faults -------------------------


def _task_id(seq: int) -> str | None:
    # Odd tasks are named (hashed prefix, as Cloud Tasks recommends), even ones are not.
    if seq % 2 == 0:
        return None
    return f"{hashlib.sha256(str(seq).encode()).hexdigest()[:8]}-{seq}"


@pytest.mark.usefixtures("paused")
def test_10000_tasks_from_8_threads_each_created_exactly_once(emu: Emulator) -> None:
    total, threads_n = 10_000, 8
    settings = fast(attempt_timeout=0.25, max_backoff=0.02)
    results: dict[int, str] = {}
    errors: list[BaseException] = []
    done = threading.Event()
    lock = threading.Lock()

    def worker(offset: int) -> None:
        try:
            for seq in range(offset, total, threads_n):
                name = enqueue_http_task(
                    "/tasks/load", {"seq": seq}, task_id=_task_id(seq), settings=settings
                )
                with lock:
                    results[seq] = name
        except BaseException as exc:
            errors.append(exc)

    def chaos() -> None:
        # Bursts paced by progress (one per 200 tasks), so faults never pile up faster
        # than calls consume them: every kind of failure, mixed, never an outage.
        rng = random.Random(5)
        next_burst = 0
        while not done.wait(0.01):
            with lock:
                progress = len(results)
            if progress < next_burst:
                continue
            next_burst = progress + 200
            roll = rng.random()
            if roll < 0.45:
                emu.fail_next(rng.randint(1, 8))
            elif roll < 0.9:
                emu.fail_next(rng.randint(1, 4), after_commit=True)
            else:
                emu.delay_next(rng.randint(1, 2), 0.35)

    # One lost answer up front, so the recovery path is exercised whatever the timing.
    emu.fail_next(2, after_commit=True)
    with structlog.testing.capture_logs() as logs:
        injector = threading.Thread(target=chaos)
        workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads_n)]
        injector.start()
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        done.set()
        injector.join()
    emu.clear_faults()
    emu.wait_rpcs_idle(timeout=10)  # a delayed call that outlived its client has landed

    assert errors == []
    assert len(results) == total
    names = list(results.values())
    assert len(set(names)) == total
    tasks = emu.tasks()
    assert len(tasks) == total
    assert {t.name for t in tasks} == set(names)
    seqs = collections.Counter(json.loads(t.http_request.body)["seq"] for t in tasks)
    assert seqs == collections.Counter(range(total))
    for seq in (1, 3, 9999):
        assert results[seq].endswith(f"/tasks/{_task_id(seq)}")
    counts = collections.Counter(e["event"] for e in logs)
    assert counts["tasks.enqueue_http_task.created"] == total
    assert counts["tasks.enqueue_http_task.retry"] > 0
    assert sum(1 for e in logs if e.get("recovered")) > 0


# --- the client ------------------------------------------------------------------------


def test_one_client_per_process_and_emulator_host(emu: Emulator) -> None:
    from dispatch import _tasks_client

    settings = DispatchSettings.from_env()
    first = _tasks_client.get_client(settings)
    assert _tasks_client.get_client(DispatchSettings.from_env(queue="other")) is first
    other = _tasks_client.get_client(DispatchSettings.from_env(emulator_host="127.0.0.1:9"))
    assert other is not first


FORK_SCRIPT = """
import json, os, sys, warnings
import dispatch
from dispatch import _tasks_client

settings = dispatch.DispatchSettings.from_env()
parent_name = dispatch.enqueue_http_task("/tasks/parent", {"who": "parent"})
parent_client = _tasks_client.get_client(settings)
read_end, write_end = os.pipe()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # fork() with gRPC threads running
    pid = os.fork()
if pid == 0:
    status = 1
    try:
        name = dispatch.enqueue_http_task("/tasks/child", {"who": "child"})
        child_client = _tasks_client.get_client(settings)
        report = {"name": name, "same_client": child_client is parent_client}
        os.write(write_end, json.dumps(report).encode())
        status = 0
    finally:
        os._exit(status)
os.close(write_end)
_, wait_status = os.waitpid(pid, 0)
child = json.loads(os.read(read_end, 65536) or b"{}")
after = dispatch.enqueue_http_task("/tasks/parent-again", {"who": "parent"})
print(json.dumps({
    "exit": os.waitstatus_to_exitcode(wait_status),
    "child": child,
    "parent": [parent_name, after],
    "parent_client_kept": _tasks_client.get_client(settings) is parent_client,
}))
"""


@pytest.mark.usefixtures("paused")
def test_a_forked_child_builds_its_own_client(emu: Emulator) -> None:
    env = {
        "TASKS_EMULATOR_HOST": emu.address,
        "TASKS_PROJECT": "taskguard-test",
        "TASKS_LOCATION": "us-central1",
        "TASKS_QUEUE": "default",
        "TASKS_BASE_URL": "http://127.0.0.1:9",
    }
    result = run_python(FORK_SCRIPT, env=env)
    assert result["exit"] == 0
    assert result["child"]["same_client"] is False
    assert result["parent_client_kept"] is True
    names = {result["child"]["name"], *result["parent"]}
    assert len(names) == 3
    bodies = {t.name: json.loads(t.http_request.body)["who"] for t in emu.tasks()}
    assert bodies == {
        result["child"]["name"]: "child",
        result["parent"][0]: "parent",
        result["parent"][1]: "parent",
    }


def test_client_that_cannot_be_built_is_task_creation_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No emulator: the real client looks for Google credentials, and finds none.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/credentials.json")
    settings = DispatchSettings(
        project="p", location="l", queue="q", base_url="https://worker.example.com"
    )
    with structlog.testing.capture_logs() as logs, pytest.raises(TaskCreationError) as info:
        enqueue_http_task("/tasks/x", {"v": 1}, settings=settings)
    assert "could not build the Cloud Tasks client" in str(info.value)
    assert info.value.attempts == 0
    assert type(info.value.__cause__).__module__.startswith("google.auth")
    assert [e["event"] for e in logs] == [
        "tasks.enqueue_http_task.start",
        "tasks.enqueue_http_task.cloud_tasks_client_failed",
    ]


def test_create_task_sends_the_metadata_the_generated_client_sends() -> None:
    # The dispatcher calls the transport's stub directly; Google's front end routes on
    # x-goog-request-params, so it must match what client.create_task() would send.
    seen: list[dict[str, str]] = []

    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        seen.append(dict(context.invocation_metadata()))  # type: ignore[arg-type]
        return tasks_v2.Task.pb()(name=request.parent + "/tasks/" + "x")

    handler = grpc.unary_unary_rpc_method_handler(
        handle,
        request_deserializer=tasks_v2.CreateTaskRequest.pb().FromString,
        response_serializer=lambda message: message.SerializeToString(),
    )
    with ThreadPoolExecutor(max_workers=2) as pool:
        server = grpc.server(pool)
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "google.cloud.tasks.v2.CloudTasks", {"CreateTask": handler}
                ),
            )
        )
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            settings = DispatchSettings(
                project="p",
                location="l",
                queue="q",
                base_url="http://127.0.0.1:9",
                emulator_host=f"127.0.0.1:{port}",
            )
            enqueue_http_task("/tasks/x", {"v": 1}, settings=settings)
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                client = tasks_v2.CloudTasksClient(
                    transport=tasks_v2.services.cloud_tasks.transports.CloudTasksGrpcTransport(
                        channel=channel
                    )
                )
                client.create_task(
                    parent="projects/p/locations/l/queues/q",
                    task={"http_request": {"url": "http://127.0.0.1:9/tasks/x"}},
                )
        finally:
            server.stop(None).wait()
    ours, generated = seen
    for key in ("x-goog-request-params", "x-goog-api-client"):
        assert ours[key] == generated[key], key
    assert ours["x-goog-request-params"] == "parent=projects/p/locations/l/queues/q"
