"""Arguments whose ``__class__`` lies (a str or tuple subclass claiming to be the exact
type) are judged by their real type: the fast paths of the guarded ``__import__`` (which
take exact strings and tuples only) and the finder's second line never trust ``__class__``.

Each attack's object also lies where a fast path would look at it (``partition`` answering
a free first segment, ``len``/indexing answering a harmless fromlist): trusted, the attack
imports a forbidden module, and its name is remembered as free, which would let a plain
``import fakehttp`` through afterwards (the last checks). Each attack runs with the targets
loaded and not loaded, each in a module of its own, all in one interpreter."""

import importlib
import sys

from _support import POLICY, blocked, done, unload, write

from taskguard import ForbiddenImportError, install

ATTACKS = """
class ClaimsStr(str):  # holds a forbidden name; says it is a str in the free package "app"
    @property
    def __class__(self):
        return str

    def partition(self, sep):
        return ("app", sep, "services")

class ClaimsTuple(tuple):  # iterates as ("*",), answers ("NAME",) to len and indexing
    @property
    def __class__(self):
        return tuple

    def __len__(self):
        return 1

    def __getitem__(self, index):
        return "NAME"

def warm():
    import app.services
    from app.services import NAME

def lying_name():
    warm()
    return __import__(ClaimsStr("fakehttp"))

def lying_dotted_name():
    warm()
    return __import__(ClaimsStr("fakehttp.sub"))

def lying_name_fromlist():
    warm()
    return __import__(ClaimsStr("fakehttp"), fromlist=("NAME",))

def lying_fromlist():
    warm()
    return __import__("app.alias", fromlist=ClaimsTuple(("*",)))

def lying_import_module():
    warm()
    import importlib
    return importlib.import_module(ClaimsStr("fakehttp.sub"))
"""

expected = {
    "lying_name": "BLOCKED fakehttp",
    "lying_dotted_name": "BLOCKED fakehttp.sub",
    "lying_name_fromlist": "BLOCKED fakehttp",
    "lying_fromlist": "BLOCKED fakehttp.NAME",
    "lying_import_module": "BLOCKED fakehttp.sub",
}
states = ("loaded", "first")
write(
    {
        "app/services/__init__.py": "NAME = 'services'\n",
        **{
            f"app/api/routers/{state}_{attack}.py": ATTACKS
            for state in states
            for attack in expected
        },
        "app/api/routers/plain.py": """
            def plain():
                import fakehttp

            def plain_dotted():
                import fakehttp.sub

            def plain_from():
                from fakehttp import NAME
        """,
    }
)

guard = install(POLICY)
seen = {}
for state in states:
    for attack in expected:
        module = importlib.import_module(f"app.api.routers.{state}_{attack}")
        if state == "first":
            unload("fakehttp")
        else:
            importlib.import_module("fakehttp.sub")
        # a first-party name whose module is really a forbidden one: a star import of it
        # binds the forbidden module's names
        sys.modules["app.alias"] = importlib.import_module("fakehttp")
        if state == "first":
            unload("fakehttp")
        try:
            result = getattr(module, attack)()
        except ForbiddenImportError as exc:
            seen[attack, state] = f"BLOCKED {exc.imported}"
        except Exception as exc:
            seen[attack, state] = f"FAILED {type(exc).__name__} {exc}"
        else:
            seen[attack, state] = f"THROUGH {result!r}"
        del sys.modules["app.alias"]
for attack, outcome in expected.items():
    for state in states:
        assert seen[attack, state] == outcome, (attack, state, seen[attack, state])

# No cache was poisoned: the plain statements are still refused, loaded or not.
plain = importlib.import_module("app.api.routers.plain")
for state in states:
    if state == "first":
        unload("fakehttp")
    else:
        importlib.import_module("fakehttp.sub")
    assert blocked(plain.plain).imported == "fakehttp"
    assert blocked(plain.plain_dotted).imported == "fakehttp.sub"
    assert blocked(plain.plain_from).imported == "fakehttp"
guard.uninstall()
done()
