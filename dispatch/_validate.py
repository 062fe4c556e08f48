"""Turn ``enqueue_http_task`` arguments into a checked, google-free task description.

Everything Cloud Tasks would reject, and everything that could send a task somewhere it
should not go, is refused here as ``DispatchConfigError`` before any RPC, in every mode
(Cloud Tasks, dry run, capture). Error messages name the problem, never a payload or a
header value.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import os
import re
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from dispatch._errors import DispatchConfigError
from dispatch._settings import DispatchSettings, configuration_error

MAX_URL_LENGTH = 2083
MAX_TASK_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 80 * 1024  # Cloud Tasks: "must be less than 80KB"
# Proto framing, field tags and the task name are not in our byte count; this margin keeps
# a task we accept from being refused by the service for a few bytes.
TASK_OVERHEAD_BYTES = 1024
MAX_SCHEDULE_AHEAD = timedelta(days=30)
MIN_DEADLINE = timedelta(seconds=15)
MAX_DEADLINE = timedelta(minutes=30)
CONTENT_TYPE = "application/json"

TASK_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,500}")
QUEUE_ID_RE = re.compile(r"[A-Za-z0-9-]{1,100}")
PROJECT_ID_RE = re.compile(r"[A-Za-z0-9:.-]{1,100}")
LOCATION_ID_RE = re.compile(r"[A-Za-z0-9-]{1,100}")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+")
# A DNS name or an IPv4 address ("_" for container service names such as "my_worker").
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
HEADER_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")

# RFC 3986 unreserved + sub-delims + ":" + "/" + "?" + "%" (validated as pct-encoding).
# Deliberately absent: "@" (userinfo confusion), "#", "\\", whitespace, controls, non-ASCII.
_URL_CHARS = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:/?%")
_BASE_URL_CHARS = _URL_CHARS | {"[", "]"}  # an IPv6 literal host, checked separately
_PCT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PCT_BYTE_RE = re.compile(r"%([0-9A-Fa-f]{2})")
# Decoded, these change how a path is routed or normalised: a "/" or "\\" that a framework
# may decode into a separator, a "." that forms a dot-segment, a "%" that double-decodes.
_PATH_UNSAFE_BYTES = frozenset(b"/\\.%")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})

# Cloud Tasks sets, overrides or ignores these; Authorization comes from the OIDC setting only.
FORBIDDEN_HEADERS = frozenset(
    {
        "authorization",
        "connection",
        "content-length",
        "content-type",
        "expect",
        "host",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
    }
)
FORBIDDEN_HEADER_PREFIXES = ("x-cloudtasks-", "x-google-", "x-appengine-")


@dataclass(frozen=True)
class TaskSpec:
    """A validated task, independent of the google client."""

    path: str
    log_path: str  # the path without its query string: queries may carry secrets
    url: str
    body: bytes
    headers: tuple[tuple[str, str], ...]
    queue_path: str | None
    queue: str | None
    task_id: str
    task_id_given: bool
    schedule_time: datetime | None
    dispatch_deadline: timedelta | None
    oidc_service_account_email: str | None
    oidc_audience: str | None
    size: int

    @property
    def task_name(self) -> str | None:
        if self.queue_path is None:
            return None
        return f"{self.queue_path}/tasks/{self.task_id}"


class Rejected(Exception):
    """Internal carrier: the public error plus the log event that reports it."""

    def __init__(self, event: str, error: DispatchConfigError) -> None:
        super().__init__(event, error)
        self.event = event
        self.error = error


def _plain(value: str) -> str:
    """``value`` as an exact ``str``.

    A ``str`` subclass can override ``__contains__``, ``__iter__``, ``split`` or
    ``__format__`` to pass every check here and then read differently when the URL or the
    task name is built; the checks must see, and the task must carry, the same characters.
    """
    return value if type(value) is str else str.__getitem__(value, slice(None))


def _fail(event: str, field: str, message: str) -> Rejected:
    return Rejected(event, DispatchConfigError(message, field=field))


# --- settings --------------------------------------------------------------------------


def check_queue_parts(
    settings: DispatchSettings, queue: str | None, *, required: bool
) -> str | None:
    """Return the queue path, or ``None`` when parts are missing and not ``required``."""
    if queue is not None and (not isinstance(queue, str) or not QUEUE_ID_RE.fullmatch(queue)):
        raise _fail(
            "queue_path_failed",
            "queue",
            "queue must be a queue id of 1-100 letters, digits or hyphens",
        )
    if queue is not None:
        queue = _plain(queue)
    return _queue_path(
        settings.project,
        settings.location,
        queue if queue is not None else settings.queue,
        required,
    )


@functools.lru_cache(maxsize=64)
def _queue_path(
    project: str | None, location: str | None, queue: str | None, required: bool
) -> str | None:
    # Pure in its arguments, and called for every task: cached (failures are not cached).
    parts = {
        "TASKS_PROJECT": (project, PROJECT_ID_RE),
        "TASKS_LOCATION": (location, LOCATION_ID_RE),
        "TASKS_QUEUE": (queue, QUEUE_ID_RE),
    }
    missing = [var for var, (value, _) in parts.items() if not value]
    if missing:
        if not required:
            return None
        hint = " (or GOOGLE_CLOUD_PROJECT)" if "TASKS_PROJECT" in missing else ""
        raise _fail(
            "config_missing",
            missing[0],
            f"missing configuration: set {', '.join(missing)}{hint}",
        )
    for var, (value, pattern) in parts.items():
        assert value is not None
        if not pattern.fullmatch(value):
            raise _fail("queue_path_failed", var, f"{var} is not a valid Cloud Tasks id: {value!r}")
    project, location, queue_id = (parts[v][0] for v in parts)
    return f"projects/{project}/locations/{location}/queues/{queue_id}"


@functools.lru_cache(maxsize=64)
def check_base_url(base_url: str | None, *, required: bool) -> str | None:
    """Return the base URL without a trailing slash (cached: pure, and called per task)."""
    if not base_url:
        if required:
            raise _fail(
                "base_url_missing",
                "TASKS_BASE_URL",
                "missing configuration: set TASKS_BASE_URL (the worker's base URL)",
            )
        return None
    bad = "TASKS_BASE_URL must be an http(s) URL with a host and no credentials, query or fragment"
    if (
        not base_url.isascii()
        or "@" in base_url
        or any(c not in _BASE_URL_CHARS for c in base_url)
        or _PCT_RE.search(base_url)
    ):
        raise _fail("base_url_missing", "TASKS_BASE_URL", bad)
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError as exc:
        raise _fail("base_url_missing", "TASKS_BASE_URL", f"{bad}: {exc}") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or "?" in base_url
        or (port is not None and port == 0)
        # A percent-encoded host is decoded by some clients and not by others: two
        # readings of one URL are how a task ends up on another host.
        or "%" in parts.netloc
    ):
        raise _fail("base_url_missing", "TASKS_BASE_URL", bad)
    if "[" not in base_url and not _HOSTNAME_RE.fullmatch(parts.hostname):
        # RFC 3986 allows sub-delimiters ("h,evil.example.com", "h;x") in a host; no DNS
        # name or address has them, and clients disagree on what they mean.
        raise _fail("base_url_missing", "TASKS_BASE_URL", bad)
    if "[" in base_url or "]" in base_url:
        # Brackets only as the delimiters of an IPv6 literal host (http://[::1]:8080).
        if not (
            parts.netloc.startswith("[")
            and base_url.count("[") == 1
            and base_url.count("]") == 1
            and "]" in parts.netloc
        ):
            raise _fail("base_url_missing", "TASKS_BASE_URL", bad)
        try:
            ipaddress.IPv6Address(parts.hostname)
        except ValueError:
            raise _fail("base_url_missing", "TASKS_BASE_URL", bad) from None
    base_path = parts.path.rstrip("/")
    if base_path:
        _check_path_part(base_path, field="TASKS_BASE_URL", event="base_url_missing")
    return f"{parts.scheme}://{parts.netloc}{base_path}"


# --- path and URL ----------------------------------------------------------------------


def _decode_pct(text: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%":
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(ord(text[i]))
            i += 1
    return bytes(out)


def _check_decoded_text(decoded: str, *, field: str, event: str, in_path: bool) -> None:
    for ch in decoded:
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise _fail(event, field, f"{field} must not contain control characters, even encoded")
        if ord(ch) < 0x80:
            continue
        if unicodedata.category(ch) in _UNSAFE_CATEGORIES:
            raise _fail(
                event,
                field,
                f"{field} contains an invisible, separator or unassigned character U+{ord(ch):04X}",
            )
        if in_path:
            # Fullwidth solidus, one-dot leader and friends normalise (NFKC) to "/", "."
            # or "\\" in frameworks that normalise paths: refuse them outright.
            folded = unicodedata.normalize("NFKC", ch)
            if any(c.isascii() and not c.isalnum() for c in folded):
                raise _fail(
                    event,
                    field,
                    f"{field} contains U+{ord(ch):04X}, which normalises to {folded!r}",
                )


def _is_dot_segment(segment: str) -> bool:
    """A segment some server resolves as '.' or '..', or drops.

    Servlet containers strip ';params' before resolving dot-segments ('/..;/admin' is
    '/../admin' to Tomcat), and Windows servers trim trailing dots and spaces ('...' and
    '.. ' are '..'). An encoded ';' or space counts too; an encoded '.' is refused elsewhere.
    """
    if not segment or ("." not in segment and ";" not in segment and "%" not in segment):
        return False
    if "%" in segment:
        segment = re.sub(r"%3[bB]", ";", segment).replace("%20", " ")
    head, has_params, _ = segment.partition(";")
    if has_params and not head:
        return True  # a bare ';param' segment: an empty segment once the params go
    return bool(head) and not head.strip(". ")


def _check_path_part(path: str, *, field: str, event: str) -> None:
    if not path.startswith("/"):
        raise _fail(event, field, f"{field} must start with a single '/'")
    if "//" in path:
        raise _fail(event, field, f"{field} must not contain '//' (it could name another host)")
    if "?" in path:
        raise _fail(event, field, f"{field} must not contain '?'")
    if any(_is_dot_segment(seg) for seg in path.split("/")):
        raise _fail(
            event,
            field,
            f"{field} must not contain '.' or '..' segments (nor '..;', '.;' or ';' ones)",
        )
    if "%" not in path:
        return
    for match in _PCT_BYTE_RE.finditer(path):
        # An encoded separator, dot or percent lets a worker that decodes before routing
        # see a different path than the one checked here.
        if int(match.group(1), 16) in _PATH_UNSAFE_BYTES:
            raise _fail(event, field, f"{field} must not percent-encode '/', '\\', '.' or '%'")
    try:
        decoded = _decode_pct(path).decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(
            event, field, f"{field} percent-encodes bytes that are not valid UTF-8"
        ) from None
    _check_decoded_text(decoded, field=field, event=event, in_path=True)


@functools.lru_cache(maxsize=64)
def _origin(base_url: str) -> tuple[str, str]:
    parts = urlsplit(base_url)
    return parts.scheme, parts.netloc


def check_path(path: object, base_url: str | None) -> tuple[str, str]:
    """Validate ``path``; return ``(url, log_path)``.

    ``url`` is ``base_url + path`` (just ``path`` when there is no base URL, in dry run).
    """
    event, field = "http_request_build_failed", "path"
    if not isinstance(path, str):
        raise _fail(event, field, f"path must be a str, got {type(path).__name__}")
    if not path:
        raise _fail(event, field, "path must not be empty; use '/' for the base URL itself")
    if len(path) > MAX_URL_LENGTH:
        # Before the per-character checks: a huge path costs nothing to refuse.
        raise _fail(
            event,
            field,
            f"path is {len(path)} characters; the task URL may have at most {MAX_URL_LENGTH}",
        )
    for ch in path:
        if ch not in _URL_CHARS:
            if ch in "\r\n":
                raise _fail(event, field, "path must not contain CR or LF")
            what = f"U+{ord(ch):04X}" if not ch.isprintable() or not ch.isascii() else repr(ch)
            raise _fail(
                event,
                field,
                f"path contains {what}: only an ASCII single-slash path is allowed "
                "(percent-encode other characters; no '@', '#', '\\' or whitespace)",
            )
    if _PCT_RE.search(path):
        raise _fail(event, field, "path has a '%' that is not followed by two hex digits")
    path_part, _, query = path.partition("?")
    _check_path_part(path_part, field=field, event=event)
    if query and "%" in query:
        decoded = _decode_pct(query).decode("utf-8", errors="replace")
        _check_decoded_text(decoded, field=field, event=event, in_path=False)
    if base_url is None:
        url = path
    else:
        url = base_url + path
        # Belt and braces: whatever the checks above missed, the URL must still point at
        # the configured host.
        joined = urlsplit(url)
        if (joined.scheme, joined.netloc) != _origin(base_url):
            raise _fail(event, field, "path would send the task to another host")
    if len(url) > MAX_URL_LENGTH:
        raise _fail(
            event, field, f"task URL is {len(url)} characters; Cloud Tasks allows {MAX_URL_LENGTH}"
        )
    return url, path_part


# --- headers, body ---------------------------------------------------------------------


def check_headers(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    event = "http_request_build_failed"
    result: list[tuple[str, str]] = [("Content-Type", CONTENT_TYPE)]
    if headers is None:
        return tuple(result)
    if not isinstance(headers, Mapping):
        raise _fail(event, "headers", "headers must be a mapping of str to str")
    seen: set[str] = set()
    for raw_name, raw_value in headers.items():
        if not isinstance(raw_name, str):
            raise _fail(
                event, "headers", f"header names must be str, got {type(raw_name).__name__}"
            )
        name = _plain(raw_name)
        if not HEADER_NAME_RE.fullmatch(name):
            shown = name if name.isprintable() and len(name) <= 300 else "(unprintable)"
            raise _fail(event, "headers", f"header name {shown!r} is not a valid HTTP token")
        lower = name.lower()
        if lower in FORBIDDEN_HEADERS or lower.startswith(FORBIDDEN_HEADER_PREFIXES):
            hint = (
                "; set TASKS_SERVICE_ACCOUNT_EMAIL for an OIDC token"
                if lower == "authorization"
                else ""
            )
            raise _fail(
                event,
                "headers",
                f"header {name!r} is set, overridden or forbidden by Cloud Tasks{hint}",
            )
        if lower in seen:
            raise _fail(event, "headers", f"header {name!r} is given twice (case-insensitively)")
        seen.add(lower)
        if not isinstance(raw_value, str):
            raise _fail(event, "headers", f"header {name!r}: value must be a str")
        value = _plain(raw_value)
        if "\r" in value or "\n" in value:
            raise _fail(event, "headers", f"header {name!r}: value must not contain CR or LF")
        if not value.isascii() or any(
            (ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value
        ):
            raise _fail(
                event,
                "headers",
                f"header {name!r}: value must be printable ASCII (encode other data)",
            )
        result.append((name, value))
    return tuple(result)


# One encoder for every task: json.dumps() with options builds a new one per call.
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def encode_payload(payload: Any) -> bytes:
    """JSON-encode ``payload``; ``None`` means "no arguments" and becomes ``{}``."""
    if payload is None:
        return b"{}"
    try:
        return _JSON.encode(payload).encode("utf-8")
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError) as exc:
        # The message of a json error names types and positions, never the values.
        raise _fail(
            "http_request_build_failed",
            "payload",
            f"payload is not JSON-serialisable: {type(exc).__name__}: {_short(exc)}",
        ) from None
    except Exception as exc:
        # Raised by the payload's own code (a mapping whose items() fails, ...): its
        # message may quote payload values, so only its type is named, and not chained.
        raise _fail(
            "http_request_build_failed",
            "payload",
            f"payload is not JSON-serialisable: {type(exc).__name__} raised while encoding it",
        ) from None


def _short(exc: BaseException) -> str:
    if isinstance(exc, UnicodeEncodeError):
        return "lone surrogate in a string"
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."


# --- scheduling ------------------------------------------------------------------------


def _as_timedelta(value: object, field: str) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(
            "task_build_failed", field, f"{field} must be a timedelta or a number of seconds"
        )
    if not math.isfinite(value):
        raise _fail("task_build_failed", field, f"{field} must be finite")
    try:
        return timedelta(seconds=value)
    except OverflowError:
        raise _fail("task_build_failed", field, f"{field} is out of range") from None


def check_schedule(schedule_time: object, delay: object, now: datetime) -> datetime | None:
    event = "task_build_failed"
    if schedule_time is not None and delay is not None:
        raise _fail(event, "delay", "give either delay or schedule_time, not both")
    if delay is not None:
        offset = _as_timedelta(delay, "delay")
        if offset < timedelta(0):
            raise _fail(event, "delay", "delay must not be negative")
        if offset > MAX_SCHEDULE_AHEAD:
            raise _fail(event, "delay", "delay must be at most 30 days")
        return now + offset
    if schedule_time is None:
        return None
    if not isinstance(schedule_time, datetime):
        raise _fail(event, "schedule_time", "schedule_time must be a datetime")
    try:
        utc_offset = schedule_time.utcoffset()
    except Exception as exc:
        # The tzinfo's own code: an offset of a day or more (ValueError from datetime), or
        # whatever it raises. Refused like any bad argument, naming only the error's type.
        raise _fail(
            event,
            "schedule_time",
            f"schedule_time's tzinfo gives no valid UTC offset ({type(exc).__name__})",
        ) from None
    if utc_offset is None:
        raise _fail(
            event,
            "schedule_time",
            "schedule_time must be timezone-aware (e.g. datetime.now(timezone.utc))",
        )
    try:
        when = schedule_time.astimezone(timezone.utc)
    except OverflowError:
        # datetime.min/max in a zone other than UTC: no UTC time exists for it.
        raise _fail(event, "schedule_time", "schedule_time is out of range") from None
    except Exception as exc:
        # A tzinfo whose utcoffset() answers once and then fails or changes its mind.
        raise _fail(
            event,
            "schedule_time",
            f"schedule_time's tzinfo gives no valid UTC offset ({type(exc).__name__})",
        ) from None
    if when - now > MAX_SCHEDULE_AHEAD:
        raise _fail(event, "schedule_time", "schedule_time must be at most 30 days ahead")
    return when


def check_deadline(dispatch_deadline: object) -> timedelta | None:
    if dispatch_deadline is None:
        return None
    deadline = _as_timedelta(dispatch_deadline, "dispatch_deadline")
    if not MIN_DEADLINE <= deadline <= MAX_DEADLINE:
        raise _fail(
            "task_build_failed",
            "dispatch_deadline",
            "dispatch_deadline must be between 15 seconds and 30 minutes",
        )
    return deadline


def check_task_id(task_id: object) -> tuple[str, bool]:
    if task_id is None:
        # A random id makes every CreateTask idempotent, so a timed-out attempt can be
        # retried safely; random (not sequential) ids keep Cloud Tasks' index balanced.
        return os.urandom(16).hex(), False
    if not isinstance(task_id, str) or not TASK_ID_RE.fullmatch(task_id):
        raise _fail(
            "task_build_failed",
            "task_id",
            "task_id must be 1-500 characters from [A-Za-z0-9_-]",
        )
    return _plain(task_id), True


def check_oidc(settings: DispatchSettings, base_url: str | None) -> tuple[str | None, str | None]:
    email = settings.service_account_email
    if email is None:
        return None, None
    if not EMAIL_RE.fullmatch(email):
        raise _fail(
            "http_request_build_failed",
            "TASKS_SERVICE_ACCOUNT_EMAIL",
            "TASKS_SERVICE_ACCOUNT_EMAIL must be a service account email address",
        )
    audience = settings.oidc_audience or base_url
    if audience is not None and (not audience.isascii() or not audience.isprintable()):
        raise _fail(
            "http_request_build_failed",
            "TASKS_OIDC_AUDIENCE",
            "TASKS_OIDC_AUDIENCE must be printable ASCII",
        )
    return email, audience


def _trace_pairs(
    given: tuple[tuple[str, str], ...], trace_headers: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    """The trace-context headers to add, unless the caller set a trace context of its own.

    A ``traceparent`` or ``tracestate`` the caller set wins, and none of the span's is
    added: the two belong together. They pass the same checks as the caller's headers; a
    value that does not is left out rather than failing the enqueue (trace context is best
    effort, the task is not).
    """
    if any(name.lower() in ("traceparent", "tracestate") for name, _ in given):
        return ()
    pairs = list(trace_headers)
    try:
        checked = check_headers(dict(pairs))
    except Rejected:
        return ()
    return checked[1:]  # without the Content-Type check_headers puts first


def _varint_bytes(n: int) -> int:
    return (max(n.bit_length(), 1) + 6) // 7


def _headers_wire_bytes(pairs: tuple[tuple[str, str], ...]) -> int:
    """What the headers take in the serialised task, which Cloud Tasks' 1 MB counts.

    Each header is a protobuf map entry: a tag and a length for the entry, and for its key
    and its value, on top of their bytes. Counted as name + value + 4, thousands of short
    headers under the 80 KB limit would be tens of KB more than the fixed margin allows for,
    and a task accepted here would be refused by the service. Names and values are ASCII.
    """
    total = 0
    for name, value in pairs:
        entry = 2 + _varint_bytes(len(name)) + len(name) + _varint_bytes(len(value)) + len(value)
        total += 1 + _varint_bytes(entry) + entry
    return total


# --- the configuration as a whole -------------------------------------------------------


class Problem(NamedTuple):
    """One configuration problem: what, why, and the log event that reports it alone."""

    field: str
    message: str
    event: str
    missing: bool = False


_NOT_SET = object()


def config_problems(
    settings: DispatchSettings,
    *,
    queue_given: bool,
    require: bool,
    queue: object = _NOT_SET,
) -> list[Problem]:
    """Every problem of ``settings`` (and of a ``queue=`` argument), none left for later.

    ``require``: a task is sent to Cloud Tasks, so the project, location, queue and base
    URL must be set (``queue_given``: the call names its queue instead of TASKS_QUEUE).
    Values that are set are checked in every mode, as each check alone always was.
    """
    problems: list[Problem] = []
    if require:
        missing = settings.missing_to_send("-" if queue_given else None)
        problems.extend(
            Problem(
                var,
                f"{var} is not set",
                "base_url_missing" if var == "TASKS_BASE_URL" else "config_missing",
                missing=True,
            )
            for var in missing
        )
    if queue is not _NOT_SET and queue is not None:
        try:
            check_queue_parts(settings, queue, required=False)  # type: ignore[arg-type]
        except Rejected as rejected:
            if rejected.error.field == "queue":
                problems.append(_problem(rejected))
    parts = {
        "TASKS_PROJECT": settings.project,
        "TASKS_LOCATION": settings.location,
        "TASKS_QUEUE": None if queue_given else settings.queue,
    }
    whole_path = all(value for var, value in parts.items() if var != "TASKS_QUEUE") and (
        queue_given or bool(settings.queue)
    )
    # Without a send, ids are checked only once a whole queue path is set, as before.
    if require or whole_path:
        problems.extend(
            Problem(var, f"{var} is not a valid Cloud Tasks id: {value!r}", "queue_path_failed")
            for var, value in parts.items()
            if value and not _ID_PATTERNS[var].fullmatch(value)
        )
    base_url = None
    try:
        base_url = check_base_url(settings.base_url, required=False)
    except Rejected as rejected:
        problems.append(_problem(rejected))
    try:
        check_oidc(settings, base_url)  # an invalid base URL is reported once, above
    except Rejected as rejected:
        problems.append(_problem(rejected))
    return problems


_ID_PATTERNS = {
    "TASKS_PROJECT": PROJECT_ID_RE,
    "TASKS_LOCATION": LOCATION_ID_RE,
    "TASKS_QUEUE": QUEUE_ID_RE,
}


def _problem(rejected: Rejected) -> Problem:
    return Problem(str(rejected.error.field), rejected.error.message, rejected.event)


def rejected_configuration(problems: list[Problem]) -> Rejected:
    """One error for every problem; logged under the lone problem's own event, if one."""
    missing = tuple(p.field for p in problems if p.missing)
    error = configuration_error([(p.field, p.message) for p in problems], missing)
    event = problems[0].event if len(problems) == 1 else "config_missing"
    return Rejected(event, error)


# --- all together ----------------------------------------------------------------------


def build_spec(
    *,
    path: object,
    payload: Any,
    task_id: object,
    schedule_time: object,
    delay: object,
    dispatch_deadline: object,
    headers: Mapping[str, str] | None,
    queue: str | None,
    settings: DispatchSettings,
    require_config: bool,
    now: datetime | None = None,
    trace_headers: tuple[tuple[str, str], ...] = (),
) -> TaskSpec:
    problems = config_problems(
        settings, queue_given=queue is not None, require=require_config, queue=queue
    )
    if problems:
        raise rejected_configuration(problems)
    queue_path = check_queue_parts(settings, queue, required=require_config)
    base_url = check_base_url(settings.base_url, required=require_config)
    if isinstance(path, str):
        path = _plain(path)
    if isinstance(queue, str):
        queue = _plain(queue)
    url, log_path = check_path(path, base_url)
    assert isinstance(path, str)
    header_pairs = check_headers(headers)
    if trace_headers:
        header_pairs += _trace_pairs(header_pairs, trace_headers)
    header_bytes = sum(len(k) + len(v) + 4 for k, v in header_pairs)
    if header_bytes >= MAX_HEADER_BYTES:
        raise _fail(
            "http_request_build_failed",
            "headers",
            f"headers total {header_bytes} bytes; Cloud Tasks requires less than 80 KB",
        )
    email, audience = check_oidc(settings, base_url)
    body = encode_payload(payload)
    the_id, given = check_task_id(task_id)
    when = None
    if schedule_time is not None or delay is not None:
        when = check_schedule(schedule_time, delay, now or datetime.now(timezone.utc))
    deadline = check_deadline(dispatch_deadline)
    size = (
        len(body)
        + len(url)
        + _headers_wire_bytes(header_pairs)
        + len(queue_path or "")
        + len(the_id)
        + len(email or "")
        + len(audience or "")
        + TASK_OVERHEAD_BYTES
    )
    if size > MAX_TASK_BYTES:
        raise _fail(
            "task_build_failed",
            "payload",
            f"task is {size} bytes (payload {len(body)}); Cloud Tasks allows 1 MB",
        )
    return TaskSpec(
        path=path,
        log_path=log_path,
        url=url,
        body=body,
        headers=header_pairs,
        queue_path=queue_path,
        queue=queue if queue is not None else settings.queue,
        task_id=the_id,
        task_id_given=given,
        schedule_time=when,
        dispatch_deadline=deadline,
        oidc_service_account_email=email,
        oidc_audience=audience,
        size=size,
    )
