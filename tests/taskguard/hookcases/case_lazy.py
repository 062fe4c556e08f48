# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""Imports inside functions, closures, methods, generators, coroutines, lambdas,
comprehensions and class bodies are checked when they run."""

import asyncio
import json
from pathlib import Path

from _support import POLICY, blocked, done, import_blocked, write

from taskguard import install

write(
    {
        "app/api/routers/lazy.py": """
            def function():
                import fakehttp
                return fakehttp

            def outer():
                def inner():
                    import fakehttp
                return inner

            class Service:
                def method(self):
                    from fakehttp import sub

                @staticmethod
                def static():
                    import fakehttp.sub

            def generator():
                import fakehttp
                yield fakehttp

            async def coroutine():
                import fakehttp

            lam = lambda: __import__("fakehttp")

            def comprehension():
                return [__import__(name) for name in ["fakehttp"]]

            def clean():
                import json
                return json
        """,
        "app/api/routers/klass.py": """
            class Client:
                import fakehttp
        """,
    }
)
guard = install(POLICY)
from app.api.routers import lazy

calls = [
    lazy.function,
    lazy.outer(),
    lazy.Service().method,
    lazy.Service.static,
    lambda: next(lazy.generator()),
    lambda: asyncio.run(lazy.coroutine()),
    lazy.lam,
    lazy.comprehension,
]
for call in calls:
    err = blocked(call)
    assert err.importer == "app.api.routers.lazy", err.importer
    assert err.imported.split(".")[0] == "fakehttp", err.imported
assert lazy.clean() is json

err = import_blocked("app.api.routers.klass")
assert (err.importer, err.lineno) == ("app.api.routers.klass", 2)

source = Path(lazy.__file__).read_text().splitlines()
lines = {v.line for v in guard.violations if v.importer == "app.api.routers.lazy"}
assert len(lines) == len(calls), sorted(lines)
for line in lines:
    assert "fakehttp" in source[line - 1], (line, source[line - 1])
done()
