"""The google.cloud.tasks.v2.CloudTasks and google.longrunning.Operations gRPC services.

Requests are parsed straight into the protobuf messages under google-cloud-tasks' proto-plus
types (``Type.pb()``), and handlers answer protobuf messages serialized as they are: going
through proto-plus marshalling on every field is much slower and changes nothing on the wire.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
import structlog
from google.cloud import tasks_v2
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2

from dispatch.emulator._clock import Clock
from dispatch.emulator._delivery import Dispatcher
from dispatch.emulator._errors import RpcError
from dispatch.emulator._operations import OPERATIONS_SERVICE, Operations, unserved
from dispatch.emulator._store import Store

SERVICE = "google.cloud.tasks.v2.CloudTasks"
if TYPE_CHECKING:
    _Handler = grpc.RpcMethodHandler[Any, Any]
_log = structlog.get_logger("dispatch.emulator")


@dataclass(frozen=True)
class _Method:
    request: Any  # the protobuf message class of the request
    call: Callable[[Any, float], Any]  # (request, now) -> protobuf response


class Faults:
    """Injected failures and delays, consumed one per call, per method."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, collections.deque[tuple[grpc.StatusCode, bool]]] = {}
        self._delays: dict[str, collections.deque[float]] = {}
        self._pending = 0  # read without the lock: a cheap "nothing injected" fast path

    def fail(self, method: str, n: int, code: grpc.StatusCode, after_commit: bool) -> None:
        with self._lock:
            queue = self._failures.setdefault(method, collections.deque())
            queue.extend([(code, after_commit)] * n)
            self._pending += n

    def delay(self, method: str, n: int, seconds: float) -> None:
        with self._lock:
            self._delays.setdefault(method, collections.deque()).extend([seconds] * n)
            self._pending += n

    def take(self, method: str) -> tuple[float, tuple[grpc.StatusCode, bool] | None]:
        if not self._pending:
            return 0.0, None
        with self._lock:
            delays = self._delays.get(method)
            failures = self._failures.get(method)
            delay = 0.0
            failure = None
            if delays:
                delay = delays.popleft()
                self._pending -= 1
            if failures:
                failure = failures.popleft()
                self._pending -= 1
            return delay, failure

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self._delays.clear()
            self._pending = 0


class Rpcs:
    """The calls of served methods: how many arrived, and how many are being served now.

    Counted when a call reaches its handler, before any injected delay or failure, and
    released when it is answered (whatever the answer): a test waits on these, with a
    deadline, instead of sleeping while a held call lands.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._received: collections.Counter[str] = collections.Counter()
        self._in_flight: collections.Counter[str] = collections.Counter()

    def arrived(self, method: str) -> None:
        with self._changed:
            self._received[method] += 1
            self._in_flight[method] += 1

    def answered(self, method: str) -> None:
        with self._changed:
            self._in_flight[method] -= 1
            if not self._in_flight[method]:
                del self._in_flight[method]
                self._changed.notify_all()

    def received(self, method: str | None = None) -> int:
        with self._changed:
            return self._received[method] if method else sum(self._received.values())

    def in_flight(self, method: str | None = None) -> dict[str, int]:
        """``{method: calls being served}``, of one method or of all."""
        with self._changed:
            return {
                name: count
                for name, count in sorted(self._in_flight.items())
                if method is None or name == method
            }

    def wait_idle(self, timeout: float) -> dict[str, int]:
        """Wait until no call is being served; what is still in flight (empty: idle)."""
        with self._changed:
            self._changed.wait_for(lambda: not self._in_flight, timeout)
            return dict(sorted(self._in_flight.items()))


def _view(request: Any) -> int:
    return int(request.response_view)


def _methods(store: Store, dispatcher: Dispatcher, operations: Operations) -> dict[str, _Method]:
    t = tasks_v2

    def run_task(req: Any, now: float) -> Any:
        task, attempt = store.run_task(req.name, _view(req), now)
        dispatcher.run_now(attempt, now)
        return task

    def delete_queue(req: Any, now: float) -> Any:
        store.delete_queue(req.name, now)
        return empty_pb2.Empty()

    def delete_task(req: Any, now: float) -> Any:
        store.delete_task(req.name, now)
        return empty_pb2.Empty()

    return {
        "CreateQueue": _Method(
            t.CreateQueueRequest.pb(), lambda r, now: store.create_queue(r.parent, r.queue, now)
        ),
        "GetQueue": _Method(t.GetQueueRequest.pb(), lambda r, now: store.get_queue(r.name)),
        "ListQueues": _Method(
            t.ListQueuesRequest.pb(),
            lambda r, now: store.list_queues(r.parent, r.filter, r.page_size, r.page_token),
        ),
        "UpdateQueue": _Method(
            t.UpdateQueueRequest.pb(),
            lambda r, now: store.update_queue(r.queue, r.update_mask, now),
        ),
        "DeleteQueue": _Method(t.DeleteQueueRequest.pb(), delete_queue),
        "PurgeQueue": _Method(
            t.PurgeQueueRequest.pb(), lambda r, now: store.purge_queue(r.name, now)
        ),
        "PauseQueue": _Method(
            t.PauseQueueRequest.pb(), lambda r, now: store.set_paused(r.name, True)
        ),
        "ResumeQueue": _Method(
            t.ResumeQueueRequest.pb(), lambda r, now: store.set_paused(r.name, False)
        ),
        "CreateTask": _Method(
            t.CreateTaskRequest.pb(),
            lambda r, now: store.create_task(r.parent, r.task, _view(r), now),
        ),
        "BatchCreateTasks": _Method(t.BatchCreateTasksRequest.pb(), operations.batch_create_tasks),
        "GetTask": _Method(
            t.GetTaskRequest.pb(), lambda r, now: store.get_task(r.name, _view(r), now)
        ),
        "ListTasks": _Method(
            t.ListTasksRequest.pb(),
            lambda r, now: store.list_tasks(r.parent, _view(r), r.page_size, r.page_token),
        ),
        "DeleteTask": _Method(t.DeleteTaskRequest.pb(), delete_task),
        "RunTask": _Method(t.RunTaskRequest.pb(), run_task),
    }


def _operation_methods(operations: Operations) -> dict[str, _Method]:
    return {
        "GetOperation": _Method(
            operations_pb2.GetOperationRequest, lambda r, now: operations.get_operation(r.name)
        )
    }


# Methods of google.cloud.tasks.v2.CloudTasks the emulator serves.
CLOUD_TASKS_METHODS = (
    "BatchCreateTasks",
    "CreateQueue",
    "CreateTask",
    "DeleteQueue",
    "DeleteTask",
    "GetQueue",
    "GetTask",
    "ListQueues",
    "ListTasks",
    "PauseQueue",
    "PurgeQueue",
    "ResumeQueue",
    "RunTask",
    "UpdateQueue",
)
# Every method a fault can be injected into.
METHODS = tuple(sorted((*CLOUD_TASKS_METHODS, "GetOperation")))


class CloudTasksHandler(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """Routes calls to google.cloud.tasks.v2.CloudTasks and google.longrunning.Operations;
    other services are unknown."""

    def __init__(
        self,
        store: Store,
        dispatcher: Dispatcher,
        operations: Operations,
        *,
        faults: Faults,
        rpcs: Rpcs,
        stopping: threading.Event,
        clock: Clock,
    ):
        self._faults = faults
        self._rpcs = rpcs
        self._stopping = stopping
        self._clock = clock
        self.methods: dict[str, dict[str, _Handler]] = {
            SERVICE: {
                name: self._unary(name, method)
                for name, method in _methods(store, dispatcher, operations).items()
            },
            OPERATIONS_SERVICE: {
                name: self._unary(name, method)
                for name, method in _operation_methods(operations).items()
            },
        }
        self._paths = {
            f"/{service}/{name}": handler
            for service, handlers in self.methods.items()
            for name, handler in handlers.items()
        }

    def register(self, server: grpc.Server) -> None:
        """Serve the known methods as registered methods (matched in the gRPC core, the
        cheaper path) and everything else through :meth:`service`."""
        for service, handlers in self.methods.items():
            server.add_registered_method_handlers(service, handlers)  # type: ignore[attr-defined]
        server.add_generic_rpc_handlers((self,))

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> _Handler | None:
        path = handler_call_details.method
        handler = self._paths.get(path)
        if handler is not None:
            return handler
        service, _, method = path.lstrip("/").partition("/")
        if service == SERVICE:
            return _unimplemented(method)
        if service == OPERATIONS_SERVICE:
            return _refuse(unserved(method))
        return None

    def _unary(self, name: str, method: _Method) -> _Handler:
        call = method.call
        clock = self._clock

        rpcs = self._rpcs

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            rpcs.arrived(name)
            try:
                return serve(request, context)
            finally:
                rpcs.answered(name)

        def serve(request: Any, context: grpc.ServicerContext) -> Any:
            delay, failure = self._faults.take(name)
            if delay > 0:
                self._stopping.wait(delay)
            if failure is not None and not failure[1]:
                context.abort(failure[0], f"dispatch.emulator: injected {failure[0].name} ({name})")
            try:
                response = call(request, clock.time())
            except RpcError as exc:
                context.abort(exc.code, exc.message)
            except Exception:
                _log.exception("tasks.emulator.internal_error", method=name)
                context.abort(
                    grpc.StatusCode.INTERNAL, f"dispatch.emulator: internal error in {name}"
                )
            if failure is not None:
                context.abort(
                    failure[0],
                    f"dispatch.emulator: injected {failure[0].name} after {name} took effect",
                )
            return response

        return grpc.unary_unary_rpc_method_handler(
            handle,
            request_deserializer=method.request.FromString,
            response_serializer=_serialize,
        )


def _serialize(message: Any) -> bytes:
    return bytes(message.SerializeToString())


_IAM = {"GetIamPolicy", "SetIamPolicy", "TestIamPermissions"}


def _unimplemented(method: str) -> _Handler:
    if method in _IAM:
        message = (
            f"dispatch.emulator does not emulate IAM ({method}): every caller may use every "
            "queue. Test IAM policies against Cloud Tasks itself."
        )
    else:
        message = (
            f"dispatch.emulator does not implement {SERVICE}/{method}. Supported: "
            + ", ".join(CLOUD_TASKS_METHODS)
            + "."
        )

    def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, message)

    return grpc.unary_unary_rpc_method_handler(handle)


def _refuse(error: RpcError) -> _Handler:
    def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.abort(error.code, error.message)

    return grpc.unary_unary_rpc_method_handler(handle)
