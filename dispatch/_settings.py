"""Dispatch settings, read from the ``TASKS_*`` environment variables."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dispatch._errors import DispatchConfigError

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})
_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")

# field name -> environment variable (the variable names are public API)
ENV_VARS: dict[str, str] = {
    "project": "TASKS_PROJECT",
    "location": "TASKS_LOCATION",
    "queue": "TASKS_QUEUE",
    "base_url": "TASKS_BASE_URL",
    "service_account_email": "TASKS_SERVICE_ACCOUNT_EMAIL",
    "oidc_audience": "TASKS_OIDC_AUDIENCE",
    "emulator_host": "TASKS_EMULATOR_HOST",
}

# What a real send needs, in the order a missing-configuration error lists them.
SEND_VARS = ("TASKS_PROJECT", "TASKS_LOCATION", "TASKS_QUEUE", "TASKS_BASE_URL")
_SEND_FIELDS = {
    "TASKS_PROJECT": "project",
    "TASKS_LOCATION": "location",
    "TASKS_BASE_URL": "base_url",
}

# Every variable from_env() depends on, in a fixed order (the cache key).
_READ_VARS = (*ENV_VARS.values(), "GOOGLE_CLOUD_PROJECT", "TASKS_DRY_RUN")
_last_from_env: tuple[tuple[str | None, ...], DispatchSettings] | None = None


def _remember(raw: tuple[str | None, ...], settings: DispatchSettings) -> None:
    global _last_from_env
    _last_from_env = (raw, settings)


def parse_bool(name: str, raw: str) -> bool:
    """Parse a boolean environment value; anything unrecognised is an error, not false."""
    if not isinstance(raw, str):
        raise DispatchConfigError(f"{name} must be a string, got {type(raw).__name__}", field=name)
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise DispatchConfigError(
        f"{name} must be one of true/1/yes or false/0/no (case-insensitive), got {raw!r}",
        field=name,
    )


@dataclass(frozen=True)
class DispatchSettings:
    """Where and how tasks are sent.

    ``from_env()`` reads the ``TASKS_*`` variables; construct one directly (or use
    ``dataclasses.replace``) to override. Missing values are only an error when a task
    is actually sent to Cloud Tasks: dry run and capture need none of them.

    The retry knobs have no environment variable: ``retry_budget`` bounds the whole
    ``enqueue_http_task`` call (every attempt and every backoff sleep), ``attempt_timeout``
    bounds one CreateTask call, and backoff grows from ``initial_backoff`` to
    ``max_backoff`` with jitter.
    """

    project: str | None = None
    location: str | None = None
    queue: str | None = None
    base_url: str | None = None
    service_account_email: str | None = None
    oidc_audience: str | None = None
    dry_run: bool = False
    emulator_host: str | None = None
    retry_budget: float = 10.0
    attempt_timeout: float = 5.0
    initial_backoff: float = 0.1
    max_backoff: float = 2.0

    def __post_init__(self) -> None:
        # Every problem in one error: fixing one only to be told about the next is how a
        # first run turns into five.
        problems: list[tuple[str, str]] = []
        for name in ENV_VARS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                problems.append((name, f"{name} must be a string, got {type(value).__name__}"))
                continue
            if value is not None and type(value) is not str:
                # A str subclass could read one way when checked and another when used.
                value = str.__getitem__(value, slice(None))
                object.__setattr__(self, name, value)
            # An empty variable means "not set": normalise so every check sees None.
            if value is not None and not value.strip():
                object.__setattr__(self, name, None)
            elif value is not None and value != value.strip():
                object.__setattr__(self, name, value.strip())
        dry_run: object = self.dry_run  # typed bool, but callers pass anything
        if not isinstance(dry_run, bool):
            problems.append(("dry_run", "dry_run must be a bool"))
        knobs_ok = True
        for name in ("retry_budget", "attempt_timeout", "initial_backoff", "max_backoff"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value <= 0
            ):
                knobs_ok = False
                problems.append(
                    (name, f"{name} must be a positive number of seconds, got {value!r}")
                )
        if knobs_ok and self.initial_backoff > self.max_backoff:
            problems.append(("initial_backoff", "initial_backoff must not exceed max_backoff"))
        if isinstance(self.emulator_host, str):
            match = _HOST_PORT.match(self.emulator_host)
            if match is None or not 0 < int(match.group(1)) < 65536:
                problems.append(
                    (
                        "TASKS_EMULATOR_HOST",
                        f"TASKS_EMULATOR_HOST must be host:port, got {self.emulator_host!r}",
                    )
                )
        if problems:
            raise configuration_error(problems)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> DispatchSettings:
        """Read the ``TASKS_*`` variables (``TASKS_PROJECT`` else ``GOOGLE_CLOUD_PROJECT``).

        ``overrides`` replace individual fields after the environment is read. A value
        that cannot be read (``TASKS_DRY_RUN=maybe``, a malformed ``TASKS_EMULATOR_HOST``)
        raises one ``DispatchConfigError`` listing it with every other problem a send
        would hit: the variables still missing and the ones set to invalid values.
        """
        return cls._read_env(environ, overrides, queue_given=False)

    @classmethod
    def _read_env(
        cls, environ: Mapping[str, str] | None, overrides: Mapping[str, Any], *, queue_given: bool
    ) -> DispatchSettings:
        # ``queue_given``: the call names its queue, so TASKS_QUEUE is not needed.
        env = os.environ if environ is None else environ
        raw = tuple(env.get(var) for var in _READ_VARS)
        if cls is DispatchSettings and not overrides:
            # Called on every enqueue: reuse the last result while the variables are
            # unchanged (settings are immutable, so sharing one is safe).
            cached = _last_from_env
            if cached is not None and cached[0] == raw:
                return cached[1]
        values: dict[str, Any] = dict(zip(ENV_VARS, raw[: len(ENV_VARS)], strict=True))
        if not (values["project"] or "").strip():
            values["project"] = env.get("GOOGLE_CLOUD_PROJECT")
        problems: list[tuple[str, str]] = []
        try:
            values["dry_run"] = parse_bool("TASKS_DRY_RUN", env.get("TASKS_DRY_RUN") or "")
        except DispatchConfigError as exc:
            values["dry_run"] = False
            if "dry_run" not in overrides:  # an override replaces the variable unread
                problems.extend(exc.problems)
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"unknown DispatchSettings field(s): {', '.join(sorted(unknown))}")
        values.update(overrides)
        try:
            settings = cls(**values)
        except DispatchConfigError as exc:
            problems.extend(exc.problems)
        if problems:
            raise _environment_error(cls, values, problems, queue_given=queue_given)
        if cls is DispatchSettings and not overrides:
            _remember(raw, settings)
        return settings

    def missing_to_send(self, queue: str | None = None) -> tuple[str, ...]:
        """The variables a real send needs that are unset, every one of them, in order.

        ``queue`` is the ``queue=`` argument of a call, which stands in for ``TASKS_QUEUE``.
        Dry run and capture need none of them; the caller decides when this matters.
        """
        missing = [var for var, name in _SEND_FIELDS.items() if not getattr(self, name)]
        if queue is None and not self.queue:
            missing.append("TASKS_QUEUE")
        return tuple(sorted(missing, key=SEND_VARS.index))

    @property
    def queue_path(self) -> str | None:
        """``projects/P/locations/L/queues/Q`` when all three parts are set."""
        if self.project and self.location and self.queue:
            return f"projects/{self.project}/locations/{self.location}/queues/{self.queue}"
        return None


def _environment_error(
    cls: type[DispatchSettings],
    values: dict[str, Any],
    problems: list[tuple[str, str]],
    *,
    queue_given: bool,
) -> DispatchConfigError:
    """``problems`` (values that could not be read) and every other problem a send would hit.

    Whether this process meant to send is unknown (``TASKS_DRY_RUN`` may be the value that
    could not be read), so the variables a send needs are reported too.
    """
    # Imported here: _validate imports this module, and only this failure path needs it.
    from dispatch._validate import config_problems

    fields = {name for name, _ in problems}
    probe_values = dict(values, dry_run=False)
    if "TASKS_EMULATOR_HOST" in fields:
        probe_values["emulator_host"] = None
    try:
        probe = cls(**probe_values)
    except DispatchConfigError:
        # A value of the wrong type (a programming error): already among ``problems``.
        return configuration_error(problems)
    more = config_problems(probe, queue_given=queue_given, require=True)
    problems.extend((p.field, p.message) for p in more if p.field not in fields)
    missing = tuple(p.field for p in more if p.missing)
    return configuration_error(problems, missing)


# The order in which a configuration error lists its problems: the variables' own order.
_PROBLEM_ORDER = (
    *SEND_VARS,
    "queue",
    "TASKS_SERVICE_ACCOUNT_EMAIL",
    "TASKS_OIDC_AUDIENCE",
    "TASKS_DRY_RUN",
    "TASKS_EMULATOR_HOST",
)


def configuration_error(
    problems: list[tuple[str, str]] | tuple[tuple[str, str], ...],
    missing: tuple[str, ...] = (),
) -> DispatchConfigError:
    """One ``DispatchConfigError`` for every problem of a configuration.

    ``problems`` are ``(field, message)`` pairs, the missing variables among them; a lone
    problem keeps its own message.
    """
    # Values set wrong first (they are wrong whatever the mode), then the ones missing.
    ordered = sorted(
        problems,
        key=lambda p: (
            p[0] in missing,
            _PROBLEM_ORDER.index(p[0]) if p[0] in _PROBLEM_ORDER else len(_PROBLEM_ORDER),
        ),
    )
    invalid = [said for name, said in ordered if name not in missing]
    if not missing and len(invalid) == 1:
        message = invalid[0]
    elif not invalid:
        message = missing_configuration_message(missing)
    else:
        message = f"invalid configuration: {'; '.join(invalid)}"
        if missing:
            message += f"; {missing_configuration_message(missing)}"
    return DispatchConfigError(
        message, field=ordered[0][0], missing=missing, problems=tuple(ordered)
    )


def missing_configuration_message(missing: tuple[str, ...] | list[str]) -> str:
    """One message naming every missing variable, and the two ways to need none of them.

    Listing them all at once matters: fixing one variable only to be told about the next
    is how a first run turns into five.
    """
    names = [
        f"{var} (or GOOGLE_CLOUD_PROJECT)"
        if var == "TASKS_PROJECT"
        else f"{var} (the worker's base URL)"
        if var == "TASKS_BASE_URL"
        else var
        for var in missing
    ]
    return (
        f"missing configuration: set {', '.join(names)}. "
        "To send nothing, set TASKS_DRY_RUN=true (validates and logs, returns dry-run-<time>); "
        "to send to a local Cloud Tasks, run `python -m dispatch.emulator --queue "
        "projects/P/locations/L/queues/Q` and set TASKS_EMULATOR_HOST to the address it prints "
        "(in pytest: the cloud_tasks_emulator fixture)"
    )
