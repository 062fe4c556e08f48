# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""Circular first-party imports behave as without the guard, partial modules included."""

import sys

from _support import POLICY, blocked, done, write

from taskguard import install

write(
    {
        "app/api/routers/a.py": """
            import app.api.routers.b as b
            from . import c

            VALUE = "a"

            def peer():
                return b.VALUE, c.value()

            def lazy():
                import fakehttp
        """,
        "app/api/routers/b.py": """
            import app.api.routers.a as a_partial

            SEEN_PARTIAL = not hasattr(a_partial, "VALUE")
            VALUE = "b"
        """,
        "app/api/routers/c.py": """
            from app.api.routers import a

            def value():
                return a.VALUE
        """,
    }
)
install(POLICY)
import app.api.routers.a as a

assert a.peer() == ("b", "a")
assert sys.modules["app.api.routers.b"].SEEN_PARTIAL is True
assert blocked(a.lazy).importer == "app.api.routers.a"
done()
