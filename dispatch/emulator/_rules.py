"""The rules Cloud Tasks applies to requests, checked without any state.

Limits and defaults from the Cloud Tasks v2 reference, the time and duration conversions the
service applies, retry arithmetic, and the checks CreateQueue/UpdateQueue/CreateTask make
before the store's lock is taken.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from google.cloud import tasks_v2
from google.protobuf import duration_pb2, timestamp_pb2

from dispatch.emulator._defaults import INSTALL_HINT
from dispatch.emulator._errors import invalid, unimplemented
from dispatch.emulator._names import check_task_name_for_create

if not hasattr(tasks_v2, "BatchCreateTasksRequest"):
    # Older clients lack the batch messages the emulator serves: say so, not AttributeError.
    raise ImportError(
        "dispatch.emulator needs google-cloud-tasks 2.25 or later (BatchCreateTasks): "
        + INSTALL_HINT
    )

TaskPb: Any = tasks_v2.Task.pb()
QueuePb: Any = tasks_v2.Queue.pb()
AttemptPb: Any = tasks_v2.Attempt.pb()
RetryConfigPb: Any = tasks_v2.RetryConfig.pb()

POST = int(tasks_v2.HttpMethod.POST)
_METHOD_VALUES: dict[str, int] = {
    name: int(getattr(tasks_v2.HttpMethod, name))
    for name in ("POST", "GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS")
}
_METHOD_NAMES = {value: name for name, value in _METHOD_VALUES.items()}
QUEUE_STATES: dict[str, int] = {
    name: int(getattr(tasks_v2.Queue.State, name)) for name in ("RUNNING", "PAUSED", "DISABLED")
}
_BODY_METHODS = {"POST", "PUT", "PATCH"}
FULL = int(tasks_v2.Task.View.FULL)
BASIC = int(tasks_v2.Task.View.BASIC)
RUNNING = int(tasks_v2.Queue.State.RUNNING)
PAUSED = int(tasks_v2.Queue.State.PAUSED)

# Limits from the Cloud Tasks v2 reference and quotas page.
MAX_TASK_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 80 * 1024
MAX_URL_LENGTH = 2083
MAX_SCHEDULE_AHEAD = 30 * 24 * 3600.0
MAX_TIMESTAMP_SECONDS = 253402300799.0  # 9999-12-31T23:59:59Z, the protobuf Timestamp limit
DEFAULT_DISPATCH_DEADLINE = 600.0
MAX_DISPATCH_DEADLINE = 1800.0
MAX_DISPATCHES_PER_SECOND = 500.0
MAX_CONCURRENT_DISPATCHES = 5000
MAX_TASKS_PAGE = 1000
MAX_QUEUES_PAGE = 9800

# Defaults Cloud Tasks picks for a queue created through the API.
DEFAULT_RATE = 500.0
DEFAULT_BURST = 100
DEFAULT_CONCURRENT = 1000
DEFAULT_MAX_ATTEMPTS = 100
DEFAULT_MIN_BACKOFF = 0.1
DEFAULT_MAX_BACKOFF = 3600.0
DEFAULT_MAX_DOUBLINGS = 16

USER_AGENT = "Google-Cloud-Tasks"
QUEUE_NOT_FOUND = (
    "Queue does not exist. If you just created the queue, wait at least a minute for the queue "
    "to initialize."
)


def queue_not_found(name: str) -> str:
    """The service's message, and how a queue comes to exist in the emulator."""
    return (
        f"{QUEUE_NOT_FOUND} (dispatch.emulator: {name} was never created here; start the "
        f"emulator with --queue {name}, or create it with CreateQueue.)"
    )


TASK_NOT_FOUND = "Requested entity was not found."
TASK_RECENTLY_GONE = (
    "The task no longer exists, though a task with this name existed recently. The task either "
    "successfully completed or was deleted."
)
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE_RE = re.compile(r"[\r\n\x00]")
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f-\U0010ffff]")
# Headers Cloud Tasks computes, replaces or reserves: never taken from the task.
_RESERVED_PREFIXES = ("x-cloudtasks-", "x-google-", "x-appengine-")
_REPLACED = {"host", "content-length", "user-agent"}


def ts_from(seconds: float) -> Any:
    """``seconds`` truncated to the microsecond, as the service stores schedule times: never
    later than ``seconds`` as :func:`ts_seconds` reads it back."""
    # Built from its fields: Timestamp.FromNanoseconds is Python code, and this runs
    # twice per CreateTask.
    micros = math.floor(seconds * 1e6)
    # The product is rounded, and may round up to the next whole microsecond: the stored
    # time would then be later than ``seconds``, and a task due now due only after now
    # (under a ManualClock, never, since that clock waits to be moved).
    if micros / 1e6 > seconds:
        micros -= 1
    whole, part = divmod(micros, 1_000_000)
    return _Timestamp(seconds=whole, nanos=part * 1000)


def ts_truncated(ts: Any) -> Any:
    """A caller's Timestamp cut (not rounded) to the microsecond, on its integer fields:
    through a float, 1.000001 s could come out as 1.000000."""
    return _Timestamp(seconds=ts.seconds, nanos=ts.nanos - ts.nanos % 1000)


def dur_truncated_ms(d: Any) -> Any:
    """A caller's Duration cut toward zero to the millisecond (seconds and nanos share a sign)."""
    nanos = d.nanos - int(math.fmod(d.nanos, 1_000_000))
    return _Duration(seconds=d.seconds, nanos=nanos)


def ts_seconds(ts: Any) -> float:
    """A Timestamp as seconds since the epoch: the float nearest to it (one rounding, on
    the integers), the same float a client reads from the Timestamp's datetime."""
    nanos: int = ts.seconds * 1_000_000_000 + ts.nanos
    return nanos / 1_000_000_000


def dur_from(seconds: float) -> Any:
    # Duration keeps seconds and nanos with one sign, truncating toward zero.
    total = round(seconds * 1e9)
    whole, nanos = divmod(abs(total), 1_000_000_000)
    sign = -1 if total < 0 else 1
    return _Duration(seconds=sign * whole, nanos=sign * nanos)


_Timestamp = timestamp_pb2.Timestamp
_Duration = duration_pb2.Duration


def dur_seconds(d: Any) -> float:
    return float(d.seconds) + float(d.nanos) / 1e9


@dataclass(frozen=True)
class Retry:
    max_attempts: int
    min_backoff: float
    max_backoff: float
    max_doublings: int
    max_retry_duration: float

    @classmethod
    def from_pb(cls, pb: Any) -> Retry:
        return cls(
            pb.max_attempts,
            dur_seconds(pb.min_backoff),
            dur_seconds(pb.max_backoff),
            pb.max_doublings,
            dur_seconds(pb.max_retry_duration),
        )

    def delay(self, failures: int) -> float:
        """Wait before the next attempt after ``failures`` failed attempts.

        RetryConfig.max_doublings: the interval starts at min_backoff, doubles max_doublings
        times, then grows linearly by that last step, and is capped at max_backoff
        (10s/300s/3 gives 10, 20, 40, 80, 160, 240, 300, 300, ...).
        """
        k = max(failures, 1)
        # Past 2**200 every delay is beyond any max_backoff; the cap avoids float overflow.
        doublings = min(k - 1, self.max_doublings, 200)
        delay = math.ldexp(self.min_backoff, doublings)
        if k - 1 > self.max_doublings:
            delay *= k - self.max_doublings
        return min(delay, self.max_backoff)

    def exhausted(self, attempts: int, elapsed: float) -> bool:
        """Both limits must be reached; a limit that is unlimited (-1 / 0) does not count."""
        limits = []
        if self.max_attempts != -1:
            limits.append(attempts >= self.max_attempts)
        if self.max_retry_duration > 0:
            limits.append(elapsed >= self.max_retry_duration)
        return bool(limits) and all(limits)


# -- request checks that need no state ---------------------------------------------------


def _check_duration(d: Any, what: str) -> float:
    seconds = dur_seconds(d)
    if seconds < 0:
        raise invalid(f"{what} must not be negative.")
    return seconds


def normalize_queue(pb: Any, *, zero_doublings: bool = False) -> Any:
    """Check a queue's settings and fill the defaults Cloud Tasks would pick (in place)."""
    if pb.HasField("app_engine_routing_override"):
        raise unimplemented(
            "dispatch.emulator does not emulate App Engine targets "
            "(Queue.app_engine_routing_override)."
        )
    if pb.HasField("http_target"):
        raise unimplemented(
            "dispatch.emulator does not emulate queue-level HTTP target overrides "
            "(Queue.http_target); set the URL, headers and token on each task."
        )
    rl = pb.rate_limits
    if rl.max_dispatches_per_second < 0 or rl.max_dispatches_per_second > MAX_DISPATCHES_PER_SECOND:
        raise invalid("RateLimits.max_dispatches_per_second must be in (0, 500].")
    if rl.max_dispatches_per_second == 0:
        rl.max_dispatches_per_second = DEFAULT_RATE
    if rl.max_concurrent_dispatches < 0 or rl.max_concurrent_dispatches > MAX_CONCURRENT_DISPATCHES:
        raise invalid("RateLimits.max_concurrent_dispatches must be in [1, 5000].")
    if rl.max_concurrent_dispatches == 0:
        rl.max_concurrent_dispatches = DEFAULT_CONCURRENT
    # max_burst_size is output only: derived from the rate as the service does.
    rl.max_burst_size = min(DEFAULT_BURST, max(1, math.ceil(rl.max_dispatches_per_second)))
    normalize_retry(pb.retry_config, None, zero_doublings=zero_doublings)
    ratio = pb.stackdriver_logging_config.sampling_ratio
    if not 0.0 <= ratio <= 1.0:
        raise invalid("StackdriverLoggingConfig.sampling_ratio must be in [0, 1].")
    return pb


def normalize_retry(rc: Any, base: Any | None, *, zero_doublings: bool = False) -> None:
    """Check a RetryConfig and fill unset fields from ``base`` (the queue's) or the defaults.

    ``zero_doublings``: a max_doublings of 0 was asked for explicitly (an update mask naming
    ``retry_config.max_doublings``) and means "never double" (linear backoff), not "unset".
    """
    if rc.max_attempts < -1:
        raise invalid("RetryConfig.max_attempts must be -1 (unlimited) or more.")
    if rc.max_doublings < 0:
        raise invalid("RetryConfig.max_doublings must not be negative.")
    min_b = _check_duration(rc.min_backoff, "RetryConfig.min_backoff")
    max_b = _check_duration(rc.max_backoff, "RetryConfig.max_backoff")
    _check_duration(rc.max_retry_duration, "RetryConfig.max_retry_duration")
    if rc.max_attempts == 0:
        rc.max_attempts = base.max_attempts if base is not None else DEFAULT_MAX_ATTEMPTS
    if rc.max_doublings == 0 and not zero_doublings:
        rc.max_doublings = base.max_doublings if base is not None else DEFAULT_MAX_DOUBLINGS
    if min_b == 0:
        rc.min_backoff.CopyFrom(
            base.min_backoff if base is not None else dur_from(DEFAULT_MIN_BACKOFF)
        )
    if max_b == 0:
        rc.max_backoff.CopyFrom(
            base.max_backoff if base is not None else dur_from(DEFAULT_MAX_BACKOFF)
        )
    if base is not None and not rc.HasField("max_retry_duration"):
        rc.max_retry_duration.CopyFrom(base.max_retry_duration)
    if dur_seconds(rc.min_backoff) > dur_seconds(rc.max_backoff):
        raise invalid("RetryConfig.min_backoff must not be greater than max_backoff.")


def dispatch_url(url: str) -> str:
    """The URL as sent: characters that cannot go on the wire are percent-encoded."""
    if _UNSAFE_URL_CHARS.search(url) is None:
        return url
    return quote(url, safe="/:?#[]@!$&'()*+,;=-._~%")


def prepare_task(
    parent: str, task: Any, now: float, *, min_dispatch_deadline: float
) -> tuple[Any, str | None]:
    """Check a CreateTask request's task and build the stored copy (FULL view).

    Returns the stored task and the caller's task id (None for an unnamed task).
    """
    task_id: str | None = None
    if task.name:
        task_id = check_task_name_for_create(task.name, parent)
    kind = task.WhichOneof("message_type")
    if kind == "app_engine_http_request":
        raise unimplemented(
            "dispatch.emulator does not emulate App Engine targets (app_engine_http_request); "
            "use an HTTP target (http_request)."
        )
    if kind != "http_request":
        raise invalid("A task must have an HTTP request: set Task.http_request.")
    size = task.ByteSize()
    if size > MAX_TASK_BYTES:
        raise invalid(
            f"Task size ({size} bytes) exceeds the maximum task size of {MAX_TASK_BYTES} bytes."
        )
    req = task.http_request
    _check_url(req.url)
    method = _METHOD_NAMES.get(int(req.http_method) or POST)
    if method is None:
        raise invalid(f"Unknown HttpMethod {int(req.http_method)}.")
    if req.body and method not in _BODY_METHODS:
        raise invalid(
            f"A request body is allowed only if the HTTP method is POST, PUT, or PATCH; "
            f"the task's method is {method}."
        )
    _check_headers(req.headers)
    auth = req.WhichOneof("authorization_header")
    if auth == "oauth_token":
        raise unimplemented(
            "dispatch.emulator cannot mint Google OAuth access tokens (oauth_token); "
            "use oidc_token for HTTP targets."
        )
    if auth == "oidc_token" and not req.oidc_token.service_account_email:
        raise invalid("OidcToken.service_account_email is required.")

    # Only what a caller may set is taken; output-only fields are never copied in.
    stored = TaskPb()
    if task_id is not None:
        stored.name = task.name
    stored.http_request.CopyFrom(req)
    if task.HasField("retry_config"):
        stored.retry_config.CopyFrom(task.retry_config)
    sreq = stored.http_request
    sreq.http_method = _method_value(method)
    for key in [k for k in sreq.headers if k.lower() == "user-agent"]:
        del sreq.headers[key]
    sreq.headers["User-Agent"] = USER_AGENT

    now_ts = ts_from(now)
    if task.HasField("schedule_time"):
        asked = ts_truncated(task.schedule_time)
        if ts_seconds(asked) - now > MAX_SCHEDULE_AHEAD:
            raise invalid("Task.schedule_time must not be more than 30 days in the future.")
        # A time in the past means now (compared exactly, on the integer fields).
        late = (asked.seconds, asked.nanos) < (now_ts.seconds, now_ts.nanos)
        stored.schedule_time.CopyFrom(now_ts if late else asked)
    else:
        stored.schedule_time.CopyFrom(now_ts)
    stored.create_time.seconds = int(now)  # truncated to the second, as the service does

    if task.HasField("dispatch_deadline") and dur_seconds(task.dispatch_deadline) != 0:
        deadline = dur_seconds(task.dispatch_deadline)
        if not min_dispatch_deadline <= deadline <= MAX_DISPATCH_DEADLINE:
            raise invalid(
                f"Task.dispatch_deadline must be in the interval [{min_dispatch_deadline:g}s, "
                f"{MAX_DISPATCH_DEADLINE:g}s] for HTTP tasks; got {deadline:g}s."
            )
        # Checked as given (strict), stored truncated to the millisecond as documented.
        stored.dispatch_deadline.CopyFrom(dur_truncated_ms(task.dispatch_deadline))
    else:
        stored.dispatch_deadline.CopyFrom(dur_from(DEFAULT_DISPATCH_DEADLINE))
    return stored, task_id


def _method_value(name: str) -> int:
    return _METHOD_VALUES[name]


def _check_url(url: str) -> None:
    problem = _url_problem(url)
    if problem is not None:
        raise invalid(problem)


@functools.lru_cache(maxsize=1024)
def _url_problem(url: str) -> str | None:
    # Pure, and most tasks of a queue share a few URLs: cached (a CreateTask hot spot).
    if not url:
        return "HttpRequest.url is required."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a malformed port
    except ValueError as exc:
        return f"HttpRequest.url is not a valid URL: {exc}."
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return 'HttpRequest.url must begin with "http://" or "https://" and name a host.'
    if len(dispatch_url(url)) > MAX_URL_LENGTH:
        return f"HttpRequest.url must be at most {MAX_URL_LENGTH} characters."
    return None


def _check_headers(headers: Any) -> None:
    size = 0
    for key, value in headers.items():
        if _TOKEN_RE.fullmatch(key) is None:
            raise invalid(f"Header name {key[:80]!r} is not a valid HTTP header name.")
        if _BAD_VALUE_RE.search(value):
            raise invalid(f"The value of header {key!r} contains CR, LF or NUL.")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise invalid(
                f"The value of header {key!r} has characters HTTP/1.1 cannot carry."
            ) from None
        size += len(key.encode()) + len(value.encode())
    if size >= MAX_HEADER_BYTES:
        raise invalid(f"The size of the headers must be less than 80KB; got {size} bytes.")


def view_of(stored: Any, view: int) -> Any:
    out = TaskPb()
    out.CopyFrom(stored)
    if view == FULL:
        out.view = FULL
    else:
        out.view = BASIC
        out.http_request.ClearField("body")
    return out


def new_queue(queue: Any, *, zero_doublings: bool = False) -> Any:
    """A queue as CreateQueue stores it: checked, defaults filled, RUNNING."""
    pb = QueuePb()
    pb.CopyFrom(queue)
    for output_only in ("state", "purge_time"):
        pb.ClearField(output_only)
    normalize_queue(pb, zero_doublings=zero_doublings)
    pb.state = RUNNING
    return pb


def copy_pb(cls: Any, pb: Any) -> Any:
    out = cls()
    out.CopyFrom(pb)
    return out


def method_name(value: int) -> str:
    return _METHOD_NAMES[value]


def reserved_header(name: str) -> bool:
    """A header Cloud Tasks computes, replaces or reserves: never taken from the task."""
    lower = name.lower()
    return lower in _REPLACED or lower.startswith(_RESERVED_PREFIXES)
