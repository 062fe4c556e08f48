"""taskguard's ``sitecustomize``, on ``PYTHONPATH`` only under ``taskguard run``.

Python imports it at startup, before the main module. It installs the runtime guard with
the policy ``taskguard run`` validated (``TASKGUARD_ROOT``, ``TASKGUARD_CONFIG``) in the mode
it was given (``TASKGUARD_MODE``), guards ``__main__`` for ``python -m <first-party module>``,
then runs the ``sitecustomize`` that would have been imported without this one.

The guard is the taskguard this file belongs to, loaded from its own directory: so every
interpreter of the command's tree runs the guard ``taskguard run`` promised, whether or not
taskguard is installed for it (a project venv under a globally installed taskguard). A guard
that cannot be installed stops the process (fail closed); only an interpreter too old for
taskguard says so on stderr and runs unguarded.
"""

from __future__ import annotations

import os
import sys
from typing import Any

# The directory holding the taskguard package this bootstrap belongs to.
_HOME = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load_from_home(name: str) -> Any:
    """Import top-level package ``name`` from ``_HOME`` only (``sys.path`` is untouched:
    the directory may be another environment's site-packages)."""
    import importlib.machinery
    import importlib.util

    spec = importlib.machinery.PathFinder.find_spec(name, [_HOME])
    if spec is None or spec.loader is None:
        raise ImportError(f"no {name} in {_HOME}", name=name)
    module = importlib.util.module_from_spec(spec)  # taskguard: ignore[TG003] -- by path
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)  # taskguard: ignore[TG003] -- by path
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _import_guard() -> tuple[Any, Any]:
    if "taskguard" not in sys.modules:
        _load_from_home("taskguard")
    if sys.version_info < (3, 11):
        try:
            import tomli  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
        except ImportError:
            try:
                _load_from_home("tomli")  # taskguard's own environment may have it
            except ImportError:
                raise ImportError(
                    "reading pyproject.toml before Python 3.11 needs tomli, which neither this "
                    "interpreter nor taskguard's environment has; install tomli for it"
                ) from None
    from taskguard import _hook
    from taskguard._policy import load_policy

    return _hook, load_policy


def _say_escaped(hook: Any, guard: Any) -> None:
    names = hook.escaped(guard)
    if names:
        hook.write_stderr(
            f"taskguard: {len(names)} first-party module(s) ran without the guard's builtins "
            "(run by an import hook in front of the guard without the builtin exec into "
            "their namespace, or made by hand); their imports of already-loaded modules "
            "were not checked: " + ", ".join(names) + "\n"
        )


def _install() -> Any:
    if sys.version_info < (3, 10):  # noqa: UP036 - any interpreter of the tree starts here
        sys.stderr.write(
            f"taskguard: {sys.executable} is older than Python 3.10; this process is not guarded\n"
        )
        return None
    try:
        _hook, load_policy = _import_guard()
        policy = load_policy(
            os.environ.get("TASKGUARD_ROOT") or None,
            config=os.environ.get("TASKGUARD_CONFIG") or None,
        )
        guard, _created = _hook.install_quietly(
            policy, mode=os.environ.get("TASKGUARD_MODE") or None
        )
        _hook.guard_main_module(guard)
        import atexit

        # First-party modules that ran with the real builtins all the same (a loader in
        # front of the guard that does not run their code through exec) are named at exit.
        atexit.register(_say_escaped, _hook, guard)
        if guard.mode == "error":
            # A blocked import the program swallows (except ImportError:) is still said
            # out loud: when it happens and again at exit, once per distinct violation.
            reporter = _hook.BlockedImportReporter()
            _hook.add_listener(guard, reporter)
            atexit.register(reporter.at_exit)
    except BaseException as exc:  # fail closed: never run unguarded by mistake
        sys.stderr.write(f"taskguard: cannot install the runtime guard in {sys.executable}: ")
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        sys.stderr.flush()
        os._exit(2)
    if guard.unguarded:
        sys.stderr.write(
            "taskguard: imported before the guard and not guarded: "
            + ", ".join(guard.unguarded)
            + "\n"
        )
    return guard


def _chain() -> None:
    """Run the next ``sitecustomize`` on ``sys.path`` under the same module name."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)  # taskguard: ignore[TG003] -- chains by path
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)  # taskguard: ignore[TG003] -- chains by path


_guard = _install()
_chain()
if _guard is not None:
    # the chained sitecustomize may have added an import hook
    sys.modules["taskguard._hook"].ensure_first(_guard)
