"""BatchCreateTasks and the long-running operations it answers with.

BatchCreateTasks is not atomic: each CreateTaskRequest of the batch is checked and committed
on its own, exactly as CreateTask would, and the ones refused are reported by index in
``BatchCreateTasksMetadata.failed_requests``. The call answers a ``google.longrunning``
Operation that is already done (the tasks exist when the answer leaves); ``GetOperation``
returns it again. ``defer`` makes the next ones answer a running operation instead, done
after a number of ``GetOperation`` polls, as the service may. A ``request_id`` names the
operation: a retried batch with the same id gets the same operation back and creates nothing.
"""

from __future__ import annotations

import collections
import random
import re
import secrets
import threading
from typing import Any

from google.cloud import tasks_v2
from google.longrunning import operations_pb2
from google.rpc import code_pb2, status_pb2

from dispatch.emulator._errors import RpcError, invalid, not_found, unimplemented
from dispatch.emulator._names import parse_queue_name
from dispatch.emulator._rules import ts_from
from dispatch.emulator._store import Store

MAX_BATCH = 100
# Operations are kept in memory; the oldest are forgotten past this many (with their ids).
MAX_OPERATIONS = 10_000
MAX_REQUEST_ID_LENGTH = 1000
OPERATIONS_SERVICE = "google.longrunning.Operations"
# Cloud Tasks' service configuration maps only GetOperation of google.longrunning.Operations
# (the client libraries carry no other operations method for it): the rest are unimplemented.
UNSERVED_OPERATION_METHODS = (
    "ListOperations",
    "DeleteOperation",
    "CancelOperation",
    "WaitOperation",
)

_MetadataPb: Any = tasks_v2.BatchCreateTasksMetadata.pb()
_ResponsePb: Any = tasks_v2.BatchCreateTasksResponse.pb()
_SUCCEEDED = int(tasks_v2.BatchCreateTasksMetadata.State.SUCCEEDED)
_PARTIALLY_SUCCEEDED = int(tasks_v2.BatchCreateTasksMetadata.State.PARTIALLY_SUCCEEDED)
_RUNNING = int(tasks_v2.BatchCreateTasksMetadata.State.RUNNING)
_OPERATION_RE = re.compile(
    r"(?P<location>projects/[A-Za-z0-9:.\-]+/locations/[A-Za-z0-9\-]+)/operations/[A-Za-z0-9_\-]+"
)
NONE_SUCCEEDED = (
    "None of the requests succeeded, refer to BatchCreateTasksMetadata.failed_requests for "
    "individual error details"
)


class Operations:
    """The batches run so far, as the operations GetOperation answers."""

    def __init__(self, store: Store) -> None:
        self._store = store
        # Taken before the store's lock, never after it: one batch per request id at a time.
        self._lock = threading.Lock()
        self._operations: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._by_request_id: dict[tuple[str, str], str] = {}
        self._request_id_of: dict[str, tuple[str, str]] = {}
        self._ids = random.Random(secrets.randbits(128))
        # defer(): the next batches answer a running operation, done after so many polls.
        self._deferred: collections.deque[int] = collections.deque()
        self._polls_left: dict[str, int] = {}

    def defer(self, n: int, polls: int) -> None:
        with self._lock:
            self._deferred.extend([polls] * n)

    def clear_deferred(self) -> None:
        with self._lock:
            self._deferred.clear()

    def batch_create_tasks(self, request: Any, now: float) -> Any:
        parent = request.parent
        queue = parse_queue_name(parent)
        requests = request.requests
        if not 1 <= len(requests) <= MAX_BATCH:
            raise invalid(
                f"BatchCreateTasksRequest.requests must hold 1 to {MAX_BATCH} requests; "
                f"got {len(requests)}."
            )
        for index, item in enumerate(requests):
            if item.parent != parent:
                raise invalid(
                    f"requests[{index}].parent ('{item.parent}') must be the batch's parent "
                    f"('{parent}'): a batch creates tasks in one queue."
                )
        request_id = request.request_id
        if len(request_id) > MAX_REQUEST_ID_LENGTH:
            raise invalid(f"request_id must be at most {MAX_REQUEST_ID_LENGTH} characters.")
        key = (queue.parent, request_id) if request_id else None
        with self._lock:
            if key is not None:
                known = self._by_request_id.get(key)
                if known is not None:
                    return self._as_seen(known)
            self._store.get_queue(parent)  # NOT_FOUND for the whole call, as CreateTask
            operation = self._run(queue.parent, requests, now)
            self._remember(operation, key)
            if self._deferred:
                self._polls_left[operation.name] = self._deferred.popleft()
            return self._as_seen(operation.name)

    def _as_seen(self, name: str) -> Any:
        """The operation as a caller sees it now: running while polls are left, else done."""
        operation = self._operations[name]
        if name not in self._polls_left:
            return _copy(operation)
        # Its tasks exist already; only the answer is held back, so that a client's
        # polling (GetOperation until done) is exercised.
        final = _MetadataPb()
        operation.metadata.Unpack(final)
        running = _MetadataPb(state=_RUNNING)
        running.start_time.CopyFrom(final.start_time)
        out = operations_pb2.Operation(name=name, done=False)
        out.metadata.Pack(running)
        return out

    def _run(self, location: str, requests: Any, now: float) -> Any:
        metadata = _MetadataPb()
        metadata.start_time.CopyFrom(ts_from(now))
        response = _ResponsePb()
        for index, item in enumerate(requests):
            try:
                task = self._store.create_task(item.parent, item.task, int(item.response_view), now)
            except RpcError as exc:
                metadata.failed_requests[index].CopyFrom(
                    status_pb2.Status(code=exc.code.value[0], message=exc.message)
                )
            else:
                response.tasks.add().CopyFrom(task)
        metadata.end_time.CopyFrom(ts_from(now))
        operation = operations_pb2.Operation(
            name=f"{location}/operations/{self._ids.getrandbits(63)}", done=True
        )
        if metadata.failed_requests:
            metadata.state = _PARTIALLY_SUCCEEDED
        else:
            metadata.state = _SUCCEEDED
        operation.metadata.Pack(metadata)
        if response.tasks:
            operation.response.Pack(response)
        else:
            # As Cloud Tasks documents for its batch operations when every request failed.
            operation.error.CopyFrom(
                status_pb2.Status(code=code_pb2.ABORTED, message=NONE_SUCCEEDED)
            )
        return operation

    def _remember(self, operation: Any, key: tuple[str, str] | None) -> None:
        self._operations[operation.name] = operation
        if key is not None:
            self._by_request_id[key] = operation.name
            self._request_id_of[operation.name] = key
        while len(self._operations) > MAX_OPERATIONS:
            name, _ = self._operations.popitem(last=False)
            self._polls_left.pop(name, None)
            old_key = self._request_id_of.pop(name, None)
            if old_key is not None:
                del self._by_request_id[old_key]

    def get_operation(self, name: str) -> Any:
        if _OPERATION_RE.fullmatch(name) is None:
            raise invalid(
                'Operation name must be formatted: "projects/<PROJECT_ID>/locations/'
                '<LOCATION_ID>/operations/<OPERATION_ID>".'
            )
        with self._lock:
            if name not in self._operations:
                raise not_found(f"Operation {name} not found.")
            left = self._polls_left.get(name)
            if left is not None:
                if left <= 1:
                    del self._polls_left[name]
                else:
                    self._polls_left[name] = left - 1
            return self._as_seen(name)

    def count(self) -> int:
        with self._lock:
            return len(self._operations)


def unserved(method: str) -> RpcError:
    return unimplemented(
        f"Cloud Tasks serves only GetOperation of {OPERATIONS_SERVICE}; {method} is not "
        "available (dispatch.emulator answers as the service does)."
    )


def _copy(operation: Any) -> Any:
    out = operations_pb2.Operation()
    out.CopyFrom(operation)
    return out
