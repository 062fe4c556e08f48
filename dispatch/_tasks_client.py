"""The only module that imports the google-cloud-tasks client.

It builds one client per process (and emulator host), and one async client per event
loop; turns a ``TaskSpec`` into a ``CreateTaskRequest``; makes one CreateTask call, one
BatchCreateTasks call or one GetOperation poll at a time; and translates every google
error into a dispatch error (``raise ... from exc``). Retrying is the caller's job
(``_enqueue``, ``_enqueue_async``, ``_bulk``).

Importing this module raises ``CloudTasksUnavailableError`` when the client is missing;
``dispatch`` imports it lazily so dry run and capture never load google code.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any

from dispatch._errors import CloudTasksUnavailableError, DuplicateTaskError, TaskCreationError
from dispatch._settings import DispatchSettings
from dispatch._validate import TaskSpec

try:
    import grpc
    import grpc.aio
    from google.api_core import exceptions as google_exceptions
    from google.api_core.gapic_v1 import routing_header
    from google.auth import exceptions as auth_exceptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import tasks_v2
    from google.cloud.tasks_v2.services.cloud_tasks.transports import (
        CloudTasksGrpcAsyncIOTransport,
        CloudTasksGrpcTransport,
    )
    from google.cloud.tasks_v2.services.cloud_tasks.transports.base import DEFAULT_CLIENT_INFO
    from google.rpc import code_pb2
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise CloudTasksUnavailableError(missing=exc.name) from exc

# Clients are keyed by pid as well as host: a gRPC channel inherited across fork() is
# unusable in the child, so a child must build its own.
_clients: dict[tuple[int, str | None], Any] = {}
_lock = threading.Lock()
# Async clients are bound to the event loop that built them (a grpc.aio channel cannot be
# used from another loop): one per loop and emulator host, forgotten with the loop.
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str | None, Any]] = (
    weakref.WeakKeyDictionary()
)
# gRPC's asyncio stack does not survive fork(): once a process has opened a grpc.aio
# channel, gRPC calls in a child forked from it (sync or async) hang. The child is told so.
_aio_used = False
_aio_inherited = False
FORK_AFTER_AIO = (
    "this process was forked from one that had used the async Cloud Tasks client, and "
    "gRPC's asyncio support does not survive fork(): calls from here would hang. Use "
    "enqueue_http_task_async / enqueue_many_async only after forking (in the worker "
    "processes, not in the process that forks them)"
)


def _reset_after_fork() -> None:
    global _lock, _aio_inherited
    _aio_inherited = _aio_inherited or _aio_used
    # The parent's lock may have been held by another thread at fork time; the child
    # starts with a fresh one. The parent's clients are left alone, not closed: closing
    # an inherited channel could disturb the parent's connection.
    _lock = threading.Lock()
    _clients.clear()
    _forget_async_clients()


# The parent's async clients, kept alive (never used) in a forked child: freeing a grpc.aio
# channel inherited across fork() crashes the child.
_inherited: list[Any] = []


def _forget_async_clients() -> None:
    global _async_clients
    _inherited.append(list(_async_clients.items()))
    _async_clients = weakref.WeakKeyDictionary()


if hasattr(os, "register_at_fork"):  # POSIX; the pid in the cache key covers the rest
    os.register_at_fork(after_in_child=_reset_after_fork)


# What building a client raises when it cannot be built (credentials, options).
_BUILD_ERRORS = (google_exceptions.GoogleAPIError, auth_exceptions.GoogleAuthError)


def _build_failed(what: str, exc: Exception, settings: DispatchSettings) -> TaskCreationError:
    return TaskCreationError(
        f"could not build the Cloud Tasks {what}: {type(exc).__name__}: {exc}",
        queue=settings.queue,
    )


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
    if _aio_inherited:
        raise TaskCreationError(FORK_AFTER_AIO, queue=settings.queue)
    with _lock:
        client = _clients.get(key)
        if client is None:
            try:
                client = _build_client(settings.emulator_host)
            except _BUILD_ERRORS as exc:
                raise _build_failed("client", exc, settings) from exc
            _clients[key] = client
    return client


# --- the async client: one per event loop -----------------------------------------------


def _build_async_client(emulator_host: str | None) -> Any:
    if emulator_host:
        # As for the sync client: plaintext gRPC, here on a grpc.aio channel.
        transport = CloudTasksGrpcAsyncIOTransport(
            channel=grpc.aio.insecure_channel(emulator_host),
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )
        return tasks_v2.CloudTasksAsyncClient(transport=transport)
    return tasks_v2.CloudTasksAsyncClient()


async def _keeper(
    client: Any, loop: asyncio.AbstractEventLoop, host: str | None
) -> AsyncIterator[None]:
    """Closes ``client`` when its event loop shuts down, and forgets it.

    An async generator started on the loop is registered by the loop's asyncgen hooks;
    ``asyncio.run()`` (and any runner that calls ``loop.shutdown_asyncgens()``) closes it
    before closing the loop, which runs this ``finally`` while the loop can still await
    the channel's close. Forgetting it matters too: the generator holds its loop, so an
    entry left behind would keep every finished loop and its client alive.
    """
    try:
        yield
    finally:
        with _lock:
            per_loop = _async_clients.get(loop)
            if per_loop is not None and per_loop.get(host, (None,))[0] is client:
                del per_loop[host]
                if not per_loop:
                    del _async_clients[loop]
        await client.transport.close()


async def get_async_client(settings: DispatchSettings) -> Any:
    """The async client of the running event loop for ``settings.emulator_host``."""
    global _aio_used
    loop = asyncio.get_running_loop()
    per_loop = _async_clients.get(loop)
    if per_loop is not None and settings.emulator_host in per_loop:
        return per_loop[settings.emulator_host][0]
    if _aio_inherited:
        raise TaskCreationError(FORK_AFTER_AIO, queue=settings.queue)
    _aio_used = True
    try:
        client = _build_async_client(settings.emulator_host)
    except _BUILD_ERRORS as exc:
        raise _build_failed("async client", exc, settings) from exc
    keeper = _keeper(client, loop, settings.emulator_host)
    await keeper.__anext__()
    with _lock:
        # Several threads may each run a loop: the mapping is shared between them.
        _async_clients.setdefault(loop, {})[settings.emulator_host] = (client, keeper)
    return client


async def close_async_clients() -> None:
    """Close the running loop's async clients now (they are closed at loop shutdown anyway)."""
    loop = asyncio.get_running_loop()
    with _lock:
        keepers = [keeper for _client, keeper in _async_clients.get(loop, {}).values()]
    for keeper in keepers:
        await keeper.aclose()


# --- requests -----------------------------------------------------------------------------


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


async def _create_async(client: Any, request: Any, spec: TaskSpec, timeout: float) -> Any:
    """``_create`` on the async client's grpc.aio stub (same request, same metadata)."""
    try:
        return await client.transport.create_task(
            request, timeout=timeout, metadata=_call_metadata(str(spec.queue_path))
        )
    except grpc.RpcError as exc:
        raise google_exceptions.from_grpc_error(exc) from exc  # type: ignore[no-untyped-call]


# Everything the client can raise for one call; anything else is a bug, left to propagate.
_CLIENT_ERRORS = (
    google_exceptions.GoogleAPIError,
    grpc.RpcError,
    auth_exceptions.GoogleAuthError,
    ValueError,
)
# Codes after which the call may have taken effect: the answer, not the call, was lost.
_AMBIGUOUS = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "UNKNOWN"})


def _code_error(
    code: str, summary: str, *, spec: TaskSpec, attempt: int, rpc: str = "CreateTask"
) -> TaskCreationError:
    """The dispatch error for a gRPC status ``code`` answered for one task."""
    if code == "ALREADY_EXISTS":
        return DuplicateTaskError(task_name=spec.task_name, queue=spec.queue, attempts=attempt)
    return TaskCreationError(
        f"Cloud Tasks {rpc} failed: {code}: {summary}",
        task_name=spec.task_name,
        queue=spec.queue,
        code=code,
        attempts=attempt,
        outcome_unknown=code in _AMBIGUOUS,
    )


def _translate(
    exc: BaseException,
    *,
    spec: TaskSpec | None,
    queue: str | None,
    attempt: int,
    rpc: str,
) -> TaskCreationError:
    """The dispatch error for anything the google client raised (one rule for every call)."""
    task_name = spec.task_name if spec is not None else None
    if isinstance(exc, google_exceptions.GoogleAPICallError):
        status = exc.grpc_status_code
        code = status.name if status is not None else type(exc).__name__
        if spec is not None:
            return _code_error(code, _summary(exc), spec=spec, attempt=attempt, rpc=rpc)
        return TaskCreationError(
            f"Cloud Tasks {rpc} failed: {code}: {_summary(exc)}",
            queue=queue,
            code=code,
            attempts=attempt,
            outcome_unknown=code in _AMBIGUOUS,
        )
    # Raised before anything is sent (credentials, the client's own checks): no doubt.
    sent = not isinstance(exc, (auth_exceptions.GoogleAuthError, ValueError))
    return TaskCreationError(
        f"Cloud Tasks {rpc} failed: {type(exc).__name__}: {_summary(exc)}",
        task_name=task_name,
        queue=queue,
        attempts=attempt,
        outcome_unknown=sent,
    )


def _task_name(response: Any, spec: TaskSpec) -> str:
    # Read the raw message: proto-plus attribute access marshals through Python.
    name = str(tasks_v2.Task.pb(response).name)
    return name or str(spec.task_name)


def create_task(client: Any, request: Any, spec: TaskSpec, *, timeout: float, attempt: int) -> str:
    """One CreateTask call; returns the task name or raises a dispatch error."""
    try:
        # No retry inside the call: the dispatcher's own loop must be the only one so the
        # budget holds.
        response = _create(client, request, spec, timeout)
    except _CLIENT_ERRORS as exc:
        raise _translate(
            exc, spec=spec, queue=spec.queue, attempt=attempt, rpc="CreateTask"
        ) from exc
    return _task_name(response, spec)


async def create_task_async(
    client: Any, request: Any, spec: TaskSpec, *, timeout: float, attempt: int
) -> str:
    """``create_task`` on the async client (a cancelled await propagates untouched)."""
    try:
        response = await _create_async(client, request, spec, timeout)
    except _CLIENT_ERRORS as exc:
        raise _translate(
            exc, spec=spec, queue=spec.queue, attempt=attempt, rpc="CreateTask"
        ) from exc
    return _task_name(response, spec)


# --- BatchCreateTasks (a long-running operation) ----------------------------------------------

_BatchRequestPb = tasks_v2.BatchCreateTasksRequest.pb()
_BatchMetadataPb = tasks_v2.BatchCreateTasksMetadata.pb()
_BatchResponsePb = tasks_v2.BatchCreateTasksResponse.pb()


def build_batch_request(queue_path: str, requests: Sequence[Any], request_id: str) -> Any:
    """A ``BatchCreateTasksRequest`` of ``requests`` (``build_request`` results, one queue).

    ``request_id`` names the operation: a retried call with the same id gets the same
    operation back instead of creating the tasks again.
    """
    return _BatchRequestPb(
        parent=queue_path,
        requests=[tasks_v2.CreateTaskRequest.pb(r) for r in requests],
        request_id=request_id,
    )


def batch_create(client: Any, request: Any, *, queue: str | None, timeout: float) -> Any:
    """One BatchCreateTasks call; returns the ``Operation`` (raw protobuf)."""
    try:
        try:
            return client.transport.batch_create_tasks(
                request, timeout=timeout, metadata=_call_metadata(request.parent)
            )
        except grpc.RpcError as exc:
            raise google_exceptions.from_grpc_error(exc) from exc  # type: ignore[no-untyped-call]
    except _CLIENT_ERRORS as exc:
        raise _translate(exc, spec=None, queue=queue, attempt=1, rpc="BatchCreateTasks") from exc


async def batch_create_async(
    client: Any, request: Any, *, queue: str | None, timeout: float
) -> Any:
    """``batch_create`` on the async client."""
    try:
        try:
            return await client.transport.batch_create_tasks(
                request, timeout=timeout, metadata=_call_metadata(request.parent)
            )
        except grpc.RpcError as exc:
            raise google_exceptions.from_grpc_error(exc) from exc  # type: ignore[no-untyped-call]
    except _CLIENT_ERRORS as exc:
        raise _translate(exc, spec=None, queue=queue, attempt=1, rpc="BatchCreateTasks") from exc


def get_operation(client: Any, name: str, *, queue: str | None, timeout: float) -> Any:
    """Poll a long-running operation once, through the client's operations client."""
    try:
        return client.transport.operations_client.get_operation(name, retry=None, timeout=timeout)
    except _CLIENT_ERRORS as exc:
        raise _translate(exc, spec=None, queue=queue, attempt=1, rpc="GetOperation") from exc


async def get_operation_async(client: Any, name: str, *, queue: str | None, timeout: float) -> Any:
    """``get_operation`` through the async client's operations client."""
    try:
        return await client.transport.operations_client.get_operation(
            name, retry=None, timeout=timeout
        )
    except _CLIENT_ERRORS as exc:
        raise _translate(exc, spec=None, queue=queue, attempt=1, rpc="GetOperation") from exc


def operation_done(operation: Any) -> bool:
    return bool(operation.done)


def operation_name(operation: Any) -> str:
    return str(operation.name)


def batch_results(
    operation: Any, specs: Sequence[TaskSpec], *, attempt: int
) -> list[str | TaskCreationError]:
    """Each request's outcome in a finished BatchCreateTasks operation, index by index.

    A request listed in ``BatchCreateTasksMetadata.failed_requests`` gets the error its
    status names (the same mapping as for CreateTask); one that is not failed and whose
    task is in the response is created. Anything the operation leaves unclear (the whole
    operation failed, an index that is neither failed nor in the response) is an error
    whose outcome is unknown: failing closed, never claiming a task that may not exist.
    """
    metadata = _BatchMetadataPb()
    if operation.HasField("metadata") and not operation.metadata.Unpack(metadata):
        metadata = _BatchMetadataPb()
    failed = dict(metadata.failed_requests)
    response = _BatchResponsePb()
    created: set[str] = set()
    unreported = "the operation did not report this task"
    if operation.HasField("error"):
        code = _code_name(operation.error.code)
        unreported = f"the operation failed: {code}: {_short(operation.error.message)}"
    elif operation.HasField("response") and operation.response.Unpack(response):
        created = {task.name for task in response.tasks}
    results: list[str | TaskCreationError] = []
    for index, spec in enumerate(specs):
        status = failed.get(index)
        if status is not None:
            results.append(
                _code_error(
                    _code_name(status.code),
                    _short(status.message),
                    spec=spec,
                    attempt=attempt,
                    rpc="BatchCreateTasks",
                )
            )
        elif spec.task_name in created:
            results.append(str(spec.task_name))
        else:
            results.append(_unclear(spec, attempt, unreported))
    return results


def _unclear(spec: TaskSpec, attempt: int, why: str) -> TaskCreationError:
    return TaskCreationError(
        f"Cloud Tasks BatchCreateTasks: {why}",
        task_name=spec.task_name,
        queue=spec.queue,
        code="UNKNOWN",
        attempts=attempt,
        outcome_unknown=True,
    )


def _code_name(code: int) -> str:
    try:
        return str(code_pb2.Code.Name(code))
    except ValueError:
        return f"CODE_{code}"


def _short(text: str) -> str:
    return text if len(text) <= 300 else text[:297] + "..."


def _summary(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return _short(str(message))
