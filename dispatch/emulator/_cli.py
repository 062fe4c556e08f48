"""Command line of the emulator: start, print the ready line, stop on SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

import structlog

from dispatch.emulator._emulator import DEFAULT_DEDUP_WINDOW, Emulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dispatch.emulator",
        description="A Cloud Tasks v2 emulator: gRPC API on HTTP/2, tasks delivered over HTTP.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1; anything else exposes the emulator)",
    )
    parser.add_argument("--port", type=int, default=8123, help="gRPC port (default 8123; 0: any)")
    parser.add_argument(
        "--queue",
        action="append",
        default=[],
        metavar="projects/P/locations/L/queues/Q",
        help="create this queue at start (repeatable)",
    )
    parser.add_argument(
        "--dedup-window",
        type=float,
        default=DEFAULT_DEDUP_WINDOW,
        metavar="SECONDS",
        help="how long a task name stays reserved after the task ran or was deleted",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Logs go to stderr so that stdout carries only the ready line.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    done = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        emulator = Emulator(
            host=args.host, port=args.port, queues=args.queue, dedup_window=args.dedup_window
        )
    except ValueError as exc:
        print(f"python -m dispatch.emulator: {exc}", file=sys.stderr)
        return 2
    try:
        emulator.start()
    except OSError as exc:
        print(f"python -m dispatch.emulator: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"TASKS_EMULATOR_HOST={emulator.address}", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
