"""Queues and tasks with the rules Cloud Tasks applies to them.

Everything here runs under one lock (``Store.lock``): the gRPC handlers and the delivery
workers are threads, and one lock keeps every invariant (dedup, counters, schedules) simple.
Request checks that need no state (``_rules``) run before the lock is taken.
"""

from __future__ import annotations

import base64
import binascii
import collections
import heapq
import itertools
import random
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import grpc
from google.cloud import tasks_v2
from google.protobuf import field_mask_pb2

from dispatch.emulator._errors import RpcError, invalid, not_found
from dispatch.emulator._names import check_location, parse_queue_name, parse_task_name
from dispatch.emulator._rules import (
    MAX_QUEUES_PAGE,
    MAX_TASKS_PAGE,
    MAX_TIMESTAMP_SECONDS,
    PAUSED,
    QUEUE_STATES,
    RUNNING,
    TASK_NOT_FOUND,
    TASK_RECENTLY_GONE,
    USER_AGENT,
    AttemptPb,
    QueuePb,
    Retry,
    copy_pb,
    dispatch_url,
    dur_seconds,
    method_name,
    new_queue,
    normalize_queue,
    normalize_retry,
    prepare_task,
    queue_not_found,
    reserved_header,
    ts_from,
    ts_seconds,
    view_of,
)


@dataclass
class TaskState:
    pb: Any
    queue: QueueState
    task_id: str
    seq: int = 0
    running: int = 0
    first_dispatch: float | None = None
    execution_count: int = 0
    previous_status: int | None = None
    deleted: bool = False


@dataclass
class QueueState:
    pb: Any
    cond: threading.Condition
    tasks: dict[str, TaskState] = field(default_factory=dict)
    heap: list[tuple[float, int, TaskState]] = field(default_factory=list)
    in_flight: int = 0
    tokens: float = 0.0
    refilled_at: float = 0.0
    deleted: bool = False
    runner: Any = None

    @property
    def name(self) -> str:
        return str(self.pb.name)

    @property
    def short(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def paused(self) -> bool:
        return bool(self.pb.state == PAUSED)

    @property
    def rate(self) -> float:
        return float(self.pb.rate_limits.max_dispatches_per_second)

    @property
    def burst(self) -> int:
        return int(self.pb.rate_limits.max_burst_size)

    @property
    def concurrency(self) -> int:
        return int(self.pb.rate_limits.max_concurrent_dispatches)


@dataclass(frozen=True)
class Attempt:
    """Everything a worker needs to send one attempt, copied while the lock is held."""

    task: TaskState
    queue_name: str
    task_name: str
    url: str
    method: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    deadline: float
    oidc_email: str | None
    oidc_audience: str
    retry_count: int
    forced: bool


class TokenWait(NamedTuple):
    """Real seconds until the queue's token bucket allows a dispatch (the rate limit runs on
    the monotonic clock, whatever clock the calendar uses)."""

    seconds: float


@dataclass(frozen=True)
class Result:
    """What one attempt came to: an HTTP status, or none (deadline, connection error)."""

    status: int | None
    outcome: str
    retry_after: float | None = None
    detail: str = ""

    @property
    def success(self) -> bool:
        return self.status is not None and 200 <= self.status <= 299


_HTTP_TO_GRPC = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ABORTED,
    412: grpc.StatusCode.FAILED_PRECONDITION,
    416: grpc.StatusCode.OUT_OF_RANGE,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def _grpc_code_for(result: Result) -> grpc.StatusCode:
    if result.status is None:
        if result.outcome == "deadline_exceeded":
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.UNAVAILABLE
    if 200 <= result.status <= 299:
        return grpc.StatusCode.OK
    if result.status in _HTTP_TO_GRPC:
        return _HTTP_TO_GRPC[result.status]
    if 400 <= result.status <= 499:
        return grpc.StatusCode.FAILED_PRECONDITION
    if 500 <= result.status <= 599:
        return grpc.StatusCode.INTERNAL
    return grpc.StatusCode.UNKNOWN


_TOKEN_PREFIX = "after:"


def _page(names: list[str], page_size: int, page_token: str, limit: int) -> tuple[list[str], str]:
    if page_size < 0:
        raise invalid("page_size must not be negative.")
    size = min(page_size or limit, limit)
    start = 0
    if page_token:
        try:
            raw = base64.b64decode(page_token.encode("ascii"), altchars=b"-_", validate=True)
            after = raw.decode("utf-8")
        except (binascii.Error, UnicodeError, ValueError):
            raise invalid("Invalid page_token.") from None
        if not after.startswith(_TOKEN_PREFIX):
            raise invalid("Invalid page_token.")
        after = after[len(_TOKEN_PREFIX) :]
        start = next((i for i, n in enumerate(names) if n > after), len(names))
    chunk = names[start : start + size]
    more = start + size < len(names)
    token = ""
    if more and chunk:
        token = base64.urlsafe_b64encode((_TOKEN_PREFIX + chunk[-1]).encode()).decode("ascii")
    return chunk, token


_QUEUE_FILTER_RE = re.compile(r"\s*state\s*[:=]\s*(?P<state>[A-Z_]+)\s*")
_MUTABLE_QUEUE_FIELDS = (
    "rate_limits",
    "retry_config",
    "stackdriver_logging_config",
    "http_target",
    "app_engine_routing_override",
)
_OUTPUT_ONLY_PATHS = {"name", "state", "purge_time", "rate_limits.max_burst_size"}


# How many due tasks the at-least-once mode picks among for each dispatch.
_SHUFFLE_WINDOW = 8


class Store:
    """All queues and tasks of one emulator, with the rules of the real service."""

    def __init__(
        self,
        *,
        dedup_window: float,
        queue_reuse_window: float,
        min_dispatch_deadline: float,
        on_queue_added: Callable[[QueueState], None],
        shuffle: random.Random | None = None,
    ) -> None:
        self.lock = threading.Lock()
        # At-least-once mode: due tasks leave in an order that does not follow their ETA.
        self._shuffle = shuffle
        # Attempts (and redeliveries) between begin_attempt and their end, RunTask included.
        self._active = 0
        self._idle = threading.Condition(self.lock)
        self.queues: dict[str, QueueState] = {}
        self._dedup_window = dedup_window
        self._queue_reuse_window = queue_reuse_window
        self._min_dispatch_deadline = min_dispatch_deadline
        self._on_queue_added = on_queue_added
        self._task_tombstones: dict[str, float] = {}
        self._tombstone_order: collections.deque[tuple[float, str]] = collections.deque()
        self._queue_tombstones: dict[str, float] = {}
        self._seq = itertools.count(1)
        # Generated task ids need to be unique, not secret: a seeded PRNG is ~1000x cheaper
        # than reading the OS entropy pool on every CreateTask.
        self._ids = random.Random(secrets.randbits(128))

    # -- queues --------------------------------------------------------------------------

    def _queue(self, name: str) -> QueueState:
        parse_queue_name(name)
        queue = self.queues.get(name)
        if queue is None:
            raise not_found(queue_not_found(name))
        return queue

    def create_queue(self, parent: str, queue: Any, now: float) -> Any:
        check_location(parent)
        parsed = parse_queue_name(queue.name)
        if parsed.parent != parent:
            raise invalid(
                f"The queue name ('{queue.name}') must be in the parent location ('{parent}')."
            )
        pb = new_queue(queue)
        with self.lock:
            return self._insert_queue(pb, now)

    def _insert_queue(self, pb: Any, now: float) -> Any:
        if pb.name in self.queues:
            raise RpcError(grpc.StatusCode.ALREADY_EXISTS, "Queue already exists")
        gone_until = self._queue_tombstones.get(pb.name)
        if gone_until is not None and gone_until > now:
            raise RpcError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "The queue cannot be created because a queue with this name existed too recently.",
            )
        state = QueueState(pb=pb, cond=threading.Condition(self.lock))
        state.tokens = float(state.burst)
        state.refilled_at = time.monotonic()
        self.queues[pb.name] = state
        self._on_queue_added(state)
        return copy_pb(QueuePb, pb)

    def get_queue(self, name: str) -> Any:
        with self.lock:
            return copy_pb(QueuePb, self._queue(name).pb)

    def list_queues(self, parent: str, filter_: str, page_size: int, page_token: str) -> Any:
        check_location(parent)
        state_filter: int | None = None
        if filter_.strip():
            match = _QUEUE_FILTER_RE.fullmatch(filter_)
            if match is None or match["state"] not in QUEUE_STATES:
                raise invalid(
                    f"Unsupported filter {filter_!r}: dispatch.emulator understands only "
                    '"state: RUNNING" / "state: PAUSED".'
                )
            state_filter = QUEUE_STATES[match["state"]]
        with self.lock:
            prefix = parent + "/queues/"
            names = sorted(
                n
                for n, q in self.queues.items()
                if n.startswith(prefix) and (state_filter is None or q.pb.state == state_filter)
            )
            chunk, token = _page(names, page_size, page_token, MAX_QUEUES_PAGE)
            resp = tasks_v2.ListQueuesResponse.pb()()
            for name in chunk:
                resp.queues.add().CopyFrom(self.queues[name].pb)
            resp.next_page_token = token
            return resp

    def update_queue(self, queue: Any, mask: Any, now: float) -> Any:
        parse_queue_name(queue.name)
        paths = list(mask.paths)
        for path in paths:
            if path in _OUTPUT_ONLY_PATHS:
                raise invalid(f"update_mask path {path!r} names an output-only field.")
        if paths and not mask.IsValidForDescriptor(QueuePb.DESCRIPTOR):
            raise invalid(f"update_mask {paths!r} does not name fields of Queue.")
        with self.lock:
            current = self.queues.get(queue.name)
            # max_doublings 0 is "unset" unless the mask names it (then: linear backoff),
            # and a 0 asked for that way stays while later masks leave it alone.
            named = "retry_config.max_doublings" in paths
            if current is None:
                # UpdateQueue creates the queue when it does not exist.
                return self._insert_queue(new_queue(queue, zero_doublings=named), now)
            untouched = bool(paths) and not {"retry_config", "retry_config.max_doublings"} & set(
                paths
            )
            kept = untouched and current.pb.retry_config.max_doublings == 0
            updated = copy_pb(QueuePb, current.pb)
            if paths:
                # A path naming a message replaces that message, as AIP-134 asks.
                field_mask_pb2.FieldMask(paths=paths).MergeMessage(
                    queue, updated, replace_message_field=True
                )
            else:
                for name in _MUTABLE_QUEUE_FIELDS:
                    updated.ClearField(name)
                    if queue.HasField(name):
                        getattr(updated, name).CopyFrom(getattr(queue, name))
            normalize_queue(updated, zero_doublings=named or kept)
            current.pb.CopyFrom(updated)
            current.tokens = min(current.tokens, float(current.burst))
            current.cond.notify_all()
            return copy_pb(QueuePb, current.pb)

    def delete_queue(self, name: str, now: float) -> None:
        with self.lock:
            queue = self._queue(name)
            for task in list(queue.tasks.values()):
                self._remove_task(task, now)
            queue.deleted = True
            del self.queues[name]
            self._queue_tombstones[name] = now + self._queue_reuse_window
            queue.cond.notify_all()
            self._notify_if_idle()

    def purge_queue(self, name: str, now: float) -> Any:
        with self.lock:
            queue = self._queue(name)
            for task in list(queue.tasks.values()):
                self._remove_task(task, now)
            queue.heap.clear()
            queue.pb.purge_time.CopyFrom(ts_from(now))
            self._notify_if_idle()
            return copy_pb(QueuePb, queue.pb)

    def set_paused(self, name: str, paused: bool) -> Any:
        with self.lock:
            queue = self._queue(name)
            queue.pb.state = PAUSED if paused else RUNNING
            queue.cond.notify_all()
            return copy_pb(QueuePb, queue.pb)

    # -- tasks ---------------------------------------------------------------------------

    def create_task(self, parent: str, task: Any, view: int, now: float) -> Any:
        parse_queue_name(parent)
        stored, task_id = prepare_task(
            parent, task, now, min_dispatch_deadline=self._min_dispatch_deadline
        )
        with self.lock:
            queue = self.queues.get(parent)
            if queue is None:
                raise not_found(queue_not_found(parent))
            self._expire_tombstones(now)
            if task_id is None:
                task_id = self._fresh_id(queue)
                stored.name = f"{parent}/tasks/{task_id}"
            elif task_id in queue.tasks or stored.name in self._task_tombstones:
                raise RpcError(grpc.StatusCode.ALREADY_EXISTS, "Requested entity already exists")
            if stored.HasField("retry_config"):
                normalize_retry(stored.retry_config, queue.pb.retry_config)
            state = TaskState(pb=stored, queue=queue, task_id=task_id)
            queue.tasks[task_id] = state
            self._push(state, ts_seconds(stored.schedule_time))
            return view_of(stored, view)

    def _fresh_id(self, queue: QueueState) -> str:
        while True:
            candidate = str(self._ids.getrandbits(63))
            name = f"{queue.name}/tasks/{candidate}"
            if candidate not in queue.tasks and name not in self._task_tombstones:
                return candidate

    def _task(self, name: str) -> TaskState:
        queue_name, task_id = parse_task_name(name)
        queue = self.queues.get(queue_name.full)
        if queue is None:
            raise not_found(queue_not_found(queue_name.full))
        task = queue.tasks.get(task_id)
        if task is None:
            if name in self._task_tombstones:
                raise not_found(TASK_RECENTLY_GONE)
            raise not_found(TASK_NOT_FOUND)
        return task

    def get_task(self, name: str, view: int, now: float) -> Any:
        with self.lock:
            self._expire_tombstones(now)
            return view_of(self._task(name).pb, view)

    def list_tasks(self, parent: str, view: int, page_size: int, page_token: str) -> Any:
        with self.lock:
            queue = self._queue(parent)
            ids = sorted(queue.tasks)
            chunk, token = _page(ids, page_size, page_token, MAX_TASKS_PAGE)
            resp = tasks_v2.ListTasksResponse.pb()()
            for task_id in chunk:
                resp.tasks.add().CopyFrom(view_of(queue.tasks[task_id].pb, view))
            resp.next_page_token = token
            return resp

    def delete_task(self, name: str, now: float) -> None:
        with self.lock:
            self._remove_task(self._task(name), now)
            self._notify_if_idle()

    def run_task(self, name: str, view: int, now: float) -> tuple[Any, Attempt]:
        """RunTask: dispatch now, whatever the queue's state, rate limits or the task's ETA."""
        with self.lock:
            task = self._task(name)
            attempt = self.begin_attempt(task, now, forced=True)
            return view_of(task.pb, view), attempt

    # -- tombstones ----------------------------------------------------------------------

    def _remove_task(self, task: TaskState, now: float) -> None:
        task.deleted = True
        task.seq = 0
        task.queue.tasks.pop(task.task_id, None)
        expiry = now + self._dedup_window
        self._task_tombstones[task.pb.name] = expiry
        self._tombstone_order.append((expiry, task.pb.name))

    def _expire_tombstones(self, now: float) -> None:
        order = self._tombstone_order
        while order and order[0][0] <= now:
            expiry, name = order.popleft()
            if self._task_tombstones.get(name) == expiry:
                del self._task_tombstones[name]

    # -- the delivery side (called with the lock held) --------------------------------------

    def _push(self, task: TaskState, eta: float) -> None:
        task.seq = next(self._seq)
        queue = task.queue
        heapq.heappush(queue.heap, (eta, task.seq, task))
        # The pump only needs waking when this task is now the first due; otherwise it is
        # already waiting for an earlier one (or is paused), and a wake-up costs a context
        # switch per CreateTask.
        if queue.heap[0][2] is task and not queue.paused:
            queue.cond.notify()

    def next_attempt(self, queue: QueueState, now: float) -> Attempt | TokenWait | float | None:
        """The next attempt the queue may start now, or how long to wait: a float is time on
        the emulator's clock until the next ETA, a TokenWait real time until the rate limit
        allows a dispatch, None until notified."""
        if queue.paused or queue.deleted:
            return None
        heap = queue.heap
        while heap and (heap[0][2].deleted or heap[0][1] != heap[0][2].seq):
            heapq.heappop(heap)
        if not heap:
            return None
        eta = heap[0][0]
        if eta > now:
            return eta - now
        if queue.in_flight >= queue.concurrency:
            return None
        mono = time.monotonic()
        queue.tokens = min(
            float(queue.burst), queue.tokens + (mono - queue.refilled_at) * queue.rate
        )
        queue.refilled_at = mono
        if queue.tokens < 1.0:
            # Wake when a few tokens have accrued (about 10 ms' worth, within the burst):
            # one wake-up per dispatch at 500/s costs more than the dispatches themselves.
            want = min(float(queue.burst), max(1.0, queue.rate * 0.01))
            return TokenWait((want - queue.tokens) / queue.rate)
        queue.tokens -= 1.0
        if self._shuffle is None:
            _, _, task = heapq.heappop(heap)
        else:
            task = self._pick_any_due(heap, now, self._shuffle)
        return self.begin_attempt(task, now, forced=False)

    @staticmethod
    def _pick_any_due(
        heap: list[tuple[float, int, TaskState]], now: float, rng: random.Random
    ) -> TaskState:
        """One of the first few due tasks, at random; the others go back (ETA order kept
        for them). Cloud Tasks promises no order, and a worker must not rely on one."""
        due: list[tuple[float, int, TaskState]] = []
        while heap and len(due) < _SHUFFLE_WINDOW and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if not entry[2].deleted and entry[1] == entry[2].seq:
                due.append(entry)
        chosen = due.pop(rng.randrange(len(due)))
        for entry in due:
            heapq.heappush(heap, entry)
        return chosen[2]

    def begin_attempt(self, task: TaskState, now: float, *, forced: bool) -> Attempt:
        pb = task.pb
        retry_count = pb.dispatch_count
        eta = pb.schedule_time
        pb.dispatch_count += 1
        last = AttemptPb()
        last.schedule_time.CopyFrom(eta)
        last.dispatch_time.CopyFrom(ts_from(now))
        pb.last_attempt.CopyFrom(last)
        if not pb.HasField("first_attempt"):
            pb.first_attempt.dispatch_time.CopyFrom(last.dispatch_time)
            task.first_dispatch = now
        task.seq = 0
        task.running += 1
        self._active += 1
        if not forced:
            task.queue.in_flight += 1
        req = pb.http_request
        headers = [(k, v) for k, v in req.headers.items() if not reserved_header(k)]
        oidc_email: str | None = None
        audience = ""
        if req.WhichOneof("authorization_header") == "oidc_token":
            oidc_email = req.oidc_token.service_account_email
            audience = req.oidc_token.audience or req.url
            headers = [(k, v) for k, v in headers if k.lower() != "authorization"]
        headers.append(("User-Agent", USER_AGENT))
        headers.append(("X-CloudTasks-QueueName", task.queue.short))
        headers.append(("X-CloudTasks-TaskName", task.task_id))
        headers.append(("X-CloudTasks-TaskRetryCount", str(retry_count)))
        headers.append(("X-CloudTasks-TaskExecutionCount", str(task.execution_count)))
        headers.append(("X-CloudTasks-TaskETA", f"{ts_seconds(eta):.6f}"))
        if task.previous_status is not None:
            # Sent only on a retry whose previous attempt got an HTTP response or ran past
            # its deadline (504); the real service sends an empty reason for HTTP targets.
            headers.append(("X-CloudTasks-TaskPreviousResponse", str(task.previous_status)))
            headers.append(("X-CloudTasks-TaskRetryReason", ""))
        return Attempt(
            task=task,
            queue_name=task.queue.name,
            task_name=pb.name,
            url=dispatch_url(req.url),
            method=method_name(int(req.http_method)),
            headers=tuple(headers),
            body=bytes(req.body),
            deadline=dur_seconds(pb.dispatch_deadline),
            oidc_email=oidc_email,
            oidc_audience=audience,
            retry_count=retry_count,
            forced=forced,
        )

    def finish_attempt(
        self, attempt: Attempt, result: Result, started: float, now: float, *, redeliver: bool
    ) -> str:
        """Record an attempt's result and decide the task's fate: done, retry or failed.

        With ``redeliver``, a success ("done") keeps the attempt's slot: the caller delivers
        it again and then calls :meth:`release_slot`.
        """
        task = attempt.task
        queue = task.queue
        task.running -= 1
        # A success to be delivered again keeps its concurrency slot for the redelivery
        # (release_slot gives it back), so max_concurrent_dispatches holds for duplicates too.
        keep_slot = redeliver and result.success and not task.deleted
        if not keep_slot:
            self._active -= 1
            if not attempt.forced:
                queue.in_flight -= 1
                queue.cond.notify()
        try:
            return self._settle(task, attempt, result, started, now)
        finally:
            self._notify_if_idle()

    def _settle(
        self, task: TaskState, attempt: Attempt, result: Result, started: float, now: float
    ) -> str:
        queue = task.queue
        if task.deleted:
            return "gone"
        pb = task.pb
        last = pb.last_attempt
        last.response_time.CopyFrom(ts_from(now))
        code = _grpc_code_for(result)
        last.response_status.code = code.value[0]
        last.response_status.message = (
            f"HTTP status code {result.status}" if result.status is not None else result.detail
        )
        if result.status is not None:
            pb.response_count += 1
            if result.status < 500:
                task.execution_count += 1
        # After a dispatch deadline the real service reports a 504 from the target.
        task.previous_status = 504 if result.outcome == "deadline_exceeded" else result.status
        if result.success:
            self._remove_task(task, now)
            return "done"
        if task.running > 0:
            return "retry"
        retry = Retry.from_pb(
            pb.retry_config if pb.HasField("retry_config") else queue.pb.retry_config
        )
        elapsed = now - (task.first_dispatch if task.first_dispatch is not None else now)
        if retry.exhausted(pb.dispatch_count, elapsed):
            self._remove_task(task, now)
            return "failed"
        delay = retry.delay(pb.dispatch_count)
        if result.retry_after is not None and result.status in (429, 503):
            delay = max(delay, result.retry_after)
        base = started if attempt.forced else now
        # A Retry-After of years, or a max_backoff near the Duration limit, must still
        # give a Timestamp: past its range the task could be neither stored nor retried.
        eta = ts_from(min(base + delay, MAX_TIMESTAMP_SECONDS))
        pb.schedule_time.CopyFrom(eta)
        # Due at the schedule time the task shows (to the microsecond), not a fraction of a
        # microsecond after it: a client that moves a ManualClock to it gets the retry.
        self._push(task, ts_seconds(eta))
        return "retry"

    def release_slot(self, attempt: Attempt) -> None:
        """Give back the slot a redelivered attempt kept (see :meth:`finish_attempt`)."""
        self._active -= 1
        if not attempt.forced:
            queue = attempt.task.queue
            queue.in_flight -= 1
            queue.cond.notify()
        self._notify_if_idle()

    # -- idleness --------------------------------------------------------------------------

    def idle(self) -> bool:
        """No task stored and no delivery in flight (called with the lock held)."""
        return self._active == 0 and not any(q.tasks for q in self.queues.values())

    def _notify_if_idle(self) -> None:
        if self._active == 0 and not any(q.tasks for q in self.queues.values()):
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until :meth:`idle`, at most ``timeout`` seconds; whether it became so."""
        with self.lock:
            return self._idle.wait_for(self.idle, timeout)
