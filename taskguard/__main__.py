"""The ``taskguard`` console script and ``python -m taskguard``.

A ``check`` is first offered to the verdict memo (``taskguard._memo``), which imports
nothing but ``os``, ``sys`` and ``marshal``: when the memo of the same command is current,
its report is written and the run ends there, before argparse, the policy or the checker is
imported. Everything else goes to the CLI (``taskguard._cli``).
"""

import sys


def main() -> int:
    """Entry point of the ``taskguard`` console script (``[project.scripts]``)."""
    argv = sys.argv[1:]
    if argv[:1] == ["check"]:
        from taskguard._memo import replay

        code = replay(argv)
        if code is not None:
            return code
    from taskguard._cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
