"""W3C trace context for new tasks, when ``opentelemetry-api`` is installed.

``current_headers()`` gives the ``traceparent`` (and ``tracestate``) of the current span,
so the task's delivery continues the trace of the request that enqueued it. Nothing is
imported until the first task is prepared, and without ``opentelemetry-api`` nothing
ever is: the import is tried once, and its absence turns this into a no-op.

Only the trace-context propagator is used, never the globally configured one: a
``baggage`` header (or a vendor's) could carry user data into every task.
"""

from __future__ import annotations

from typing import Any

_NOT_LOADED: Any = object()
_propagator: Any = _NOT_LOADED


def _load() -> Any:
    try:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError:
        return None
    return TraceContextTextMapPropagator()


def current_headers() -> tuple[tuple[str, str], ...]:
    """``(("traceparent", ...), ("tracestate", ...))`` of the current span, or ``()``."""
    global _propagator
    if _propagator is _NOT_LOADED:
        _propagator = _load()
    if _propagator is None:
        return ()
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return tuple(carrier.items())
