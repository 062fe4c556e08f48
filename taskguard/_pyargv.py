"""Python's own command-line parsing (``Python/getopt.c`` and ``config_parse_cmdline``).

One copy, for every part of taskguard that must know what a ``python`` command line will
do: ``taskguard run`` (does the command read ``PYTHONPATH`` and ``sitecustomize`` at all?)
and the bootstrap (which module does ``python -m`` run as ``__main__``?). It follows
CPython 3.10-3.13 exactly, version by version (``tests/taskguard/test_pyargv.py`` compares
it with each interpreter present):

- options are single letters, several may share one argument (``-BIc code``); ``c``,
  ``m``, ``W`` and ``X`` take a value, glued (``-Werror``) or as the next argument;
- ``-c`` and ``-m`` end the options: what follows belongs to the program;
- ``--`` ends the options; ``-`` alone means the program is read from stdin; the first
  other argument not starting with ``-`` is the script;
- long options match exactly (no ``=value``, no abbreviations): ``--help``, ``--version``,
  ``--check-hash-based-pycs VALUE`` and, since 3.11, ``--help-all``, ``--help-env``,
  ``--help-xoptions``;
- ``-J`` is reserved, ``-P`` exists since 3.11; an unknown option, a missing value or a
  bad ``--check-hash-based-pycs`` value makes Python print its usage and exit 2;
  ``-h``/``-?``/``--help`` exit 0 at once, ``-V``/``--version`` at the end of the options.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Final, NamedTuple

__all__ = ["PythonCommandLine", "parse_python_argv"]

# What the command line makes Python run.
MODULE: Final = "module"
COMMAND: Final = "command"
SCRIPT: Final = "script"
STDIN: Final = "stdin"  # `-`, or no program at all (the REPL when stdin is a terminal)
HELP: Final = "help"  # prints help or the version and exits 0
ERROR: Final = "error"  # prints the usage and exits 2

_VALUED: Final = frozenset("cmWX")
_HASH_MODES: Final = ("default", "always", "never")


class PythonCommandLine(NamedTuple):
    """What CPython makes of ``argv`` (``argv[0]`` is the interpreter)."""

    # Every option seen before the program, in order: ("B", None), ("X", "importtime"),
    # ("check-hash-based-pycs", "always"). -c and -m are not listed: see run/target.
    options: tuple[tuple[str, str | None], ...]
    run: str  # MODULE, COMMAND, SCRIPT, STDIN, HELP or ERROR
    target: str | None  # the module, the command's code, or the script path
    args: tuple[str, ...]  # the program's own arguments (sys.argv[1:])
    error: str | None = None  # CPython's message, when run is ERROR

    def has(self, letter: str) -> bool:
        """Whether the one-letter option ``letter`` was given."""
        return any(name == letter for name, _value in self.options)

    @property
    def module(self) -> str | None:
        """The module ``python -m`` runs as ``__main__``, else ``None``."""
        return self.target if self.run == MODULE else None


def _short_options(version: tuple[int, int]) -> frozenset[str]:
    letters = "bBcdEhiImOqRsStuvVWxX?"
    if version >= (3, 11):
        letters += "P"
    return frozenset(letters)


def _long_options(version: tuple[int, int]) -> dict[str, bool]:
    """Long option -> whether it takes a value (``--help``/``--version`` are apart)."""
    options = {"check-hash-based-pycs": True}
    if version >= (3, 11):
        options.update({"help-all": False, "help-env": False, "help-xoptions": False})
    return options


def parse_python_argv(
    argv: Sequence[str], version: tuple[int, int] | None = None
) -> PythonCommandLine:
    """Parse a ``python`` command line as CPython ``version`` (default: this one) does."""
    if version is None:
        version = (sys.version_info[0], sys.version_info[1])
    short = _short_options(version)
    long = _long_options(version)
    options: list[tuple[str, str | None]] = []
    version_asked = False

    def stop(run: str, error: str | None = None) -> PythonCommandLine:
        return PythonCommandLine(tuple(options), run, None, (), error)

    i = 1
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") or arg == "-":
            break
        i += 1
        if arg == "--":
            break
        if arg == "--help":
            return stop(HELP)
        if arg == "--version":
            version_asked = True
            continue
        if arg.startswith("--"):
            name = arg[2:]
            if name not in long:
                return stop(ERROR, f"unknown option --{name}")
            value = None
            if long[name]:
                if i >= len(argv):
                    return stop(ERROR, f"Argument expected for the --{name} option")
                value = argv[i]
                i += 1
                if value not in _HASH_MODES:
                    return stop(
                        ERROR,
                        "--check-hash-based-pycs must be one of 'default', 'always', or 'never'",
                    )
            elif name.startswith("help"):
                return stop(HELP)
            options.append((name, value))
            continue
        j = 1
        while j < len(arg):
            letter = arg[j]
            j += 1
            if letter == "J":
                return stop(ERROR, "-J is reserved for Jython")
            if letter not in short:
                return stop(ERROR, f"Unknown option: -{letter}")
            value = None
            if letter in _VALUED:
                if j < len(arg):
                    value, j = arg[j:], len(arg)
                elif i < len(argv):
                    value = argv[i]
                    i += 1
                else:
                    return stop(ERROR, f"Argument expected for the -{letter} option")
            if letter in "h?":
                return stop(HELP)
            if letter in "cm":
                assert value is not None
                if version_asked or any(name == "V" for name, _ in options):
                    return PythonCommandLine(tuple(options), HELP, None, ())
                run = COMMAND if letter == "c" else MODULE
                return PythonCommandLine(tuple(options), run, value, tuple(argv[i:]))
            options.append((letter, value))
    if version_asked or any(name == "V" for name, _ in options):
        return stop(HELP)
    if i < len(argv) and argv[i] != "-":
        return PythonCommandLine(tuple(options), SCRIPT, argv[i], tuple(argv[i + 1 :]))
    rest = tuple(argv[i + 1 :]) if i < len(argv) else ()
    return PythonCommandLine(tuple(options), STDIN, None, rest)
