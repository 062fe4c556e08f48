"""The only module that imports the google-cloud-tasks client.

It builds one client per process (and emulator host), turns a ``TaskSpec`` into a
``CreateTaskRequest``, makes one CreateTask call, and translates every google error into
a dispatch error (``raise ... from exc``). Retrying is the caller's job (``_enqueue``).

Importing this module raises ``CloudTasksUnavailableError`` when the client is missing;
``dispatch`` imports it lazily so dry run and capture never load google code.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

from dispatch._errors import CloudTasksUnavailableError, DuplicateTaskError, TaskCreationError
from dispatch._settings import DispatchSettings
from dispatch._validate import TaskSpec

try:
    import grpc
    from google.api_core import exceptions as google_exceptions
    from google.api_core.gapic_v1 import routing_header
    from google.auth import exceptions as auth_exceptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import tasks_v2
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport
    from google.cloud.tasks_v2.services.cloud_tasks.transports.base import DEFAULT_CLIENT_INFO
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise CloudTasksUnavailableError(missing=exc.name) from exc

# Clients are keyed by pid as well as host: a gRPC channel inherited across fork() is
# unusable in the child, so a child must build its own.
_clients: dict[tuple[int, str | None], Any] = {}
_lock = threading.Lock()


def _reset_after_fork() -> None:
    global _lock
    # The parent's lock may have been held by another thread at fork time; the child
    # starts with a fresh one. The parent's clients are left alone, not closed: closing
    # an inherited channel could disturb the parent's connection.
    _lock = threading.Lock()
    _clients.clear()


if hasattr(os, "register_at_fork"):  # POSIX; the pid in the cache key covers the rest
    os.register_at_fork(after_in_child=_reset_after_fork)


def _build_client(emulator_host: str | None) -> Any:
    if emulator_host:
        # The emulator speaks plaintext gRPC; the client's default channel insists on TLS
        # and Google credentials, so hand it an insecure channel instead.
        transport = CloudTasksGrpcTransport(
            channel=grpc.insecure_channel(emulator_host),
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )
        return tasks_v2.CloudTasksClient(transport=transport)
    return tasks_v2.CloudTasksClient()


def get_client(settings: DispatchSettings) -> Any:
    """The shared client for this process and ``settings.emulator_host``."""
    key = (os.getpid(), settings.emulator_host)
    client = _clients.get(key)
    if client is not None:
        return client
    with _lock:
        client = _clients.get(key)
        if client is None:
            try:
                client = _build_client(settings.emulator_host)
            except (google_exceptions.GoogleAPIError, auth_exceptions.GoogleAuthError) as exc:
                raise TaskCreationError(
                    f"could not build the Cloud Tasks client: {type(exc).__name__}: {exc}",
                    queue=settings.queue,
                ) from exc
            _clients[key] = client
    return client


def build_request(spec: TaskSpec) -> Any:
    """A ``CreateTaskRequest`` for ``spec`` (its ``queue_path`` must be set)."""
    try:
        return _build_request(spec)
    except (TypeError, ValueError, OverflowError) as exc:
        # Validation should have caught anything proto-plus refuses; fail closed if not.
        raise TaskCreationError(
            f"could not build the Cloud Tasks request: {type(exc).__name__}",
            task_name=spec.task_name,
            queue=spec.queue,
        ) from exc


# Raw protobuf classes: building the request with them and wrapping it once costs a
# fraction of proto-plus construction, which marshals every field through Python.
_RequestPb = tasks_v2.CreateTaskRequest.pb()
_TaskPb = tasks_v2.Task.pb()
_HttpRequestPb = tasks_v2.HttpRequest.pb()
_OidcTokenPb = tasks_v2.OidcToken.pb()
_POST = int(tasks_v2.HttpMethod.POST)


def _build_request(spec: TaskSpec) -> Any:
    http_request = _HttpRequestPb(
        url=spec.url,
        http_method=_POST,
        headers=dict(spec.headers),
        # bytes, always: the client base64-decodes a str body.
        body=spec.body,
    )
    if spec.oidc_service_account_email:
        http_request.oidc_token.CopyFrom(
            _OidcTokenPb(
                service_account_email=spec.oidc_service_account_email,
                audience=spec.oidc_audience or "",
            )
        )
    task = _TaskPb(name=spec.task_name, http_request=http_request)
    if spec.schedule_time is not None:
        task.schedule_time.FromDatetime(spec.schedule_time)
    if spec.dispatch_deadline is not None:
        task.dispatch_deadline.FromTimedelta(spec.dispatch_deadline)
    return tasks_v2.CreateTaskRequest.wrap(_RequestPb(parent=spec.queue_path, task=task))


@functools.lru_cache(maxsize=64)
def _call_metadata(queue_path: str) -> tuple[tuple[str, str], ...]:
    # What the generated client.create_task() sends: the routing header Google's front end
    # routes on, and the client's identification.
    return (
        routing_header.to_grpc_metadata((("parent", queue_path),)),  # type: ignore[no-untyped-call]
        DEFAULT_CLIENT_INFO.to_grpc_metadata(),  # type: ignore[no-untyped-call]
    )


def _create(client: Any, request: Any, spec: TaskSpec, timeout: float) -> Any:
    """The CreateTask RPC through the client's own transport stub.

    ``client.create_task()`` wraps the same stub in generic Python layers (request
    coercion, retry and timeout wrappers, per-call metadata assembly) that cost about a
    fifth of the client's CPU per call on loopback; the dispatcher needs none of them: it
    builds the request itself, never retries inside the call, and sends the same metadata.
    Errors are translated exactly as the wrapper does (``from_grpc_error``).
    """
    try:
        return client.transport.create_task(
            request, timeout=timeout, metadata=_call_metadata(str(spec.queue_path))
        )
    except grpc.RpcError as exc:
        raise google_exceptions.from_grpc_error(exc) from exc  # type: ignore[no-untyped-call]


def create_task(client: Any, request: Any, spec: TaskSpec, *, timeout: float, attempt: int) -> str:
    """One CreateTask call; returns the task name or raises a dispatch error."""
    try:
        # No retry inside the call: the dispatcher's own loop must be the only one so the
        # budget holds.
        response = _create(client, request, spec, timeout)
    except google_exceptions.AlreadyExists as exc:
        raise DuplicateTaskError(
            task_name=spec.task_name, queue=spec.queue, attempts=attempt
        ) from exc
    except google_exceptions.GoogleAPICallError as exc:
        status = exc.grpc_status_code
        code = status.name if status is not None else type(exc).__name__
        raise TaskCreationError(
            f"Cloud Tasks CreateTask failed: {code}: {_summary(exc)}",
            task_name=spec.task_name,
            queue=spec.queue,
            code=code,
            attempts=attempt,
            outcome_unknown=code in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "UNKNOWN"),
        ) from exc
    except (google_exceptions.GoogleAPIError, grpc.RpcError) as exc:
        raise TaskCreationError(
            f"Cloud Tasks CreateTask failed: {type(exc).__name__}: {_summary(exc)}",
            task_name=spec.task_name,
            queue=spec.queue,
            attempts=attempt,
            outcome_unknown=True,
        ) from exc
    except (auth_exceptions.GoogleAuthError, ValueError) as exc:
        # Raised before anything is sent: credentials, or the client's own checks.
        raise TaskCreationError(
            f"Cloud Tasks CreateTask failed: {type(exc).__name__}: {_summary(exc)}",
            task_name=spec.task_name,
            queue=spec.queue,
            attempts=attempt,
        ) from exc
    # Read the raw message: proto-plus attribute access marshals through Python.
    name = str(tasks_v2.Task.pb(response).name)
    return name or str(spec.task_name)


def _summary(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    text = str(message)
    return text if len(text) <= 300 else text[:297] + "..."
