"""Command line of the emulator: start, print the ready line, stop on SIGINT/SIGTERM.

Arguments are checked before anything that needs the cloud extra is imported, and every
error names the flag the user typed (exit 2). Without the extra, one line says how to get it.
"""

from __future__ import annotations

import argparse
import math
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

from dispatch.emulator._defaults import (
    DEFAULT_DEDUP_WINDOW,
    DEFAULT_PORT,
    INSTALL_HINT,
    MAX_PORT,
)

if TYPE_CHECKING:
    from dispatch.emulator._emulator import Emulator

PROG = "python -m dispatch.emulator"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"{port} is outside 0-{MAX_PORT} (0 picks a free port)")
    return port


def _host(text: str) -> str:
    # gRPC reports an empty host only in its C log, and a stray space as a failed bind:
    # both are a mistyped flag, refused here with its name.
    if not text.strip():
        raise argparse.ArgumentTypeError("the host is empty (127.0.0.1 is loopback)")
    if any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"{text!r} contains whitespace")
    return text


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    # NaN would keep every name reserved forever, inf likewise: refused, not accepted.
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be a finite, non-negative number (NaN and inf are refused)"
        )
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise argparse.ArgumentTypeError(
            f"{text!r} must be a fraction from 0 to 1 (0.2: one successful delivery in five "
            "is delivered again)"
        )
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="A Cloud Tasks v2 emulator: gRPC API on HTTP/2, tasks delivered over HTTP.",
    )
    parser.add_argument(
        "--host",
        type=_host,
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1; anything else exposes the emulator)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"gRPC port, 0-{MAX_PORT} (default {DEFAULT_PORT}; 0: any free port)",
    )
    parser.add_argument(
        "--queue",
        action="append",
        default=[],
        metavar="projects/P/locations/L/queues/Q",
        help="create this queue at start (repeatable; the first one goes in the ready line)",
    )
    parser.add_argument(
        "--dedup-window",
        type=_seconds,
        default=DEFAULT_DEDUP_WINDOW,
        metavar="SECONDS",
        help="how long a task name stays reserved after the task ran or was deleted "
        f"(default {DEFAULT_DEDUP_WINDOW:g}: 24 h, the documented maximum)",
    )
    parser.add_argument(
        "--duplicate-deliveries",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="at-least-once mode: this fraction (0-1) of successful deliveries is delivered "
        "again, and due tasks leave in an order that does not follow their ETA exactly",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed for the at-least-once choices, to replay a run",
    )
    return parser


def _missing_extra(exc: ImportError) -> str | None:
    """Why the cloud extra is unusable, or None when ``exc`` is a bug of our own."""
    if exc.name is not None and exc.name.split(".")[0] == "dispatch":
        return None
    if isinstance(exc, ModuleNotFoundError) and exc.name is not None:
        return f"the emulator needs the cloud extra ({exc.name} is not installed)"
    # Ours (an old google-cloud-tasks) already says what is needed; others say what failed.
    reason = str(exc).split(": pip install", 1)[0]
    if reason.startswith("dispatch.emulator needs"):
        return reason
    return f"the emulator needs the cloud extra ({reason})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        from dispatch.emulator._emulator import Emulator
        from dispatch.emulator._errors import RpcError
        from dispatch.emulator._names import parse_queue_name
    except ImportError as exc:
        reason = _missing_extra(exc)
        if reason is None:
            raise
        print(f"{PROG}: {reason}: {INSTALL_HINT}", file=sys.stderr)
        return 1
    for name in args.queue:
        try:
            parse_queue_name(name)
        except RpcError as exc:
            parser.error(f"argument --queue: {name!r}: {exc.message}")

    import structlog

    # Logs go to stderr so that stdout carries only the ready line.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    done = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            emulator = Emulator(
                host=args.host,
                port=args.port,
                queues=args.queue,
                dedup_window=args.dedup_window,
                duplicate_deliveries=args.duplicate_deliveries,
                seed=args.seed,
            )
        except ValueError as exc:
            # The flags were checked above; this is the last line of defence.
            print(f"{PROG}: {exc}", file=sys.stderr)
            return 2
        try:
            emulator.start()
        except OSError as exc:
            print(f"{PROG}: {exc} (--host {args.host} --port {args.port})", file=sys.stderr)
            return 1
        try:
            print(ready_line(emulator), flush=True)
            while not done.wait(0.5):
                pass
        finally:
            emulator.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def ready_line(emulator: Emulator) -> str:
    """``export ...`` with every variable a shell needs to enqueue to the first queue."""
    values = {"TASKS_EMULATOR_HOST": emulator.address}
    if emulator.queue_names:
        project, location, queue = _split(emulator.queue_names[0])
        values.update(TASKS_PROJECT=project, TASKS_LOCATION=location, TASKS_QUEUE=queue)
    return "export " + " ".join(f"{key}={shlex.quote(value)}" for key, value in values.items())


def _split(queue_name: str) -> tuple[str, str, str]:
    parts = queue_name.split("/")
    return parts[1], parts[3], parts[5]
