# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""importlib.reload goes through the finder again: the new code is guarded too."""

import importlib

from _support import POLICY, blocked, done, write

from taskguard import install

write({"app/api/routers/mod.py": "COUNT = 1\n\ndef f():\n    import fakehttp\n"})
install(POLICY)
import app.api.routers.mod as mod

assert blocked(mod.f).lineno == 4
first_builtins = mod.__dict__["__builtins__"]
write(
    {
        "app/api/routers/mod.py": (
            "COUNT = 2\n\ndef f():\n    import fakehttp\n\ndef g():\n    from fakehttp import sub\n"
        )
    }
)
importlib.invalidate_caches()
assert importlib.reload(mod) is mod
assert mod.COUNT == 2
assert blocked(mod.g).lineno == 7
assert blocked(mod.f).lineno == 4
assert type(mod.__dict__["__builtins__"]).__name__ == "_GuardedBuiltins"
assert mod.__dict__["__builtins__"] is not first_builtins
assert type(mod.__spec__.loader).__name__ == "_GuardedSourceFileLoader"
done()
