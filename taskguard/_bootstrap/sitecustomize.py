"""taskguard's ``sitecustomize``, on ``PYTHONPATH`` only under ``taskguard run``.

Python imports it at startup, before the main module. It installs the runtime guard with
the policy ``taskguard run`` validated (``TASKGUARD_ROOT``, ``TASKGUARD_CONFIG``) in the mode
it was given (``TASKGUARD_MODE``), guards ``__main__`` for ``python -m <first-party module>``,
then runs the ``sitecustomize`` that would have been imported without this one.

An interpreter that cannot import taskguard (another Python in the command's tree) says so
on stderr and runs unguarded; a policy that fails to load stops the process (fail closed).
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _install() -> Any:
    try:
        from taskguard import _hook
        from taskguard._policy import load_policy
    except Exception as exc:  # any interpreter of the command's tree starts here
        sys.stderr.write(
            f"taskguard: {sys.executable} cannot import taskguard ({exc}); "
            "this process is not guarded\n"
        )
        return None
    try:
        policy = load_policy(
            os.environ.get("TASKGUARD_ROOT") or None,
            config=os.environ.get("TASKGUARD_CONFIG") or None,
        )
        guard, _created = _hook._install(policy, mode=os.environ.get("TASKGUARD_MODE") or None)
        _hook._guard_main_module(guard)
    except Exception as exc:  # fail closed: never run unguarded by mistake
        sys.stderr.write(f"taskguard: cannot install the runtime guard: {exc}\n")
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
    spec.loader.exec_module(module)


_guard = _install()
_chain()
if _guard is not None:
    _guard._ensure_first()  # the chained sitecustomize may have added an import hook
