# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""The fast path for names no module can be refused (a first segment that no forbidden or
dispatch pattern starts with, such as the application's own package) lets nothing through:
a name only pretending to be such a name, a star import of a module that is really a
forbidden one, a fromlist tuple imitating one checked before, a policy with a wildcard
first segment, and a guard re-installed with a policy that forbids a name the first one
let through, are each checked the slow way. Each attack runs twice (the forms cached, and
not yet), with the targets loaded."""

import importlib
import sys
import threading
import types

from _support import POLICY, blocked, done, make_policy, unload, write

from taskguard import ForbiddenImportError, install

ATTACKS = """
import sys

class LikeServices(str):  # holds a forbidden name, hashes and compares like a free one
    def __hash__(self):
        return hash("app.services")

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

class LikeName(str):  # holds "*", hashes and compares like "NAME"
    def __hash__(self):
        return hash("NAME")

    def __eq__(self, other):
        return other == "NAME"

    def __ne__(self, other):
        return other != "NAME"

NAME_FROMLIST = ("NAME",)

def warm():
    import app.services
    from app import services
    __import__("app.alias", fromlist=NAME_FROMLIST)
    __import__("app.services", fromlist=("NAME",))

def lying_name():
    warm()
    return __import__(LikeServices("fakehttp"))

def lying_name_fromlist():
    warm()
    return __import__(LikeServices("fakehttp"), fromlist=NAME_FROMLIST)

def lying_dotted_name():
    warm()
    return __import__(LikeServices("fakehttp.sub"))

def star_of_a_forbidden_module():
    warm()
    return __import__("app.alias", fromlist=("*",))

def star_in_a_list():
    warm()
    return __import__("app.alias", fromlist=["*"])

def lying_star_item():
    warm()
    return __import__("app.alias", fromlist=(LikeName("*"),))

def star_statement():
    warm()
    namespace = {"__name__": __name__}
    exec("from app.alias import *", namespace)
    return namespace
"""

expected = {
    "lying_name": "BLOCKED fakehttp",
    "lying_name_fromlist": "BLOCKED fakehttp",
    "lying_dotted_name": "BLOCKED fakehttp.sub",
    "star_of_a_forbidden_module": "BLOCKED fakehttp.NAME",
    "star_in_a_list": "BLOCKED fakehttp.NAME",
    "lying_star_item": "BLOCKED fakehttp.NAME",
    "star_statement": "BLOCKED fakehttp.NAME",
}
write(
    {
        "app/services/__init__.py": "NAME = 'services'\n",
        **{f"app/api/routers/free_{attack}.py": ATTACKS for attack in expected},
        "app/api/routers/later.py": """
            def dotted():
                import json.decoder
                return json.decoder

            def from_import():
                from json import dumps
                return dumps

            def first_party_secret():
                from app.services import secret
                return secret
        """,
        "app/services/secret.py": "",
    }
)

guard = install(POLICY)
import fakehttp
import fakehttp.sub

# A first-party name whose module is really a forbidden one (sys.modules poisoned).
sys.modules["app.alias"] = fakehttp
seen = {}
for attack in expected:
    module = importlib.import_module(f"app.api.routers.free_{attack}")
    for round_ in ("first", "cached"):
        try:
            result = getattr(module, attack)()
        except ForbiddenImportError as exc:
            seen[attack, round_] = f"BLOCKED {exc.imported}"
        except Exception as exc:
            seen[attack, round_] = f"FAILED {type(exc).__name__} {exc}"
        else:
            seen[attack, round_] = f"THROUGH {result!r}"
for attack, outcome in expected.items():
    for round_ in ("first", "cached"):
        assert seen[attack, round_] == outcome, (attack, round_, seen[attack, round_])
del sys.modules["app.alias"]

# Names that went through the fast path under one policy are checked again under the next.
later = importlib.import_module("app.api.routers.later")
assert later.dotted() is sys.modules["json.decoder"]
assert later.from_import() is sys.modules["json"].dumps
assert isinstance(later.first_party_secret(), types.ModuleType)
guard.uninstall()
with install(make_policy(forbidden_in_protected=("json",))):
    assert blocked(later.dotted).imported == "json.decoder"
    assert blocked(later.from_import).imported == "json"
    assert isinstance(later.first_party_secret(), types.ModuleType)
# A pattern whose first segment is a wildcard: no name takes the fast path.
with install(make_policy(forbidden_in_protected=("**.secret",))):
    assert blocked(later.first_party_secret).imported == "app.services.secret"
    assert later.dotted() is sys.modules["json.decoder"]
with install(POLICY):
    assert isinstance(later.first_party_secret(), types.ModuleType)

# First loads decided by their first segment alone (a name not seen before, its first
# segment seen before): the module each statement gives is the import system's, a name
# loaded since is learnt for the fast paths, and the next guard judges the first segment
# again (its policy forbids two of the names the first guard let through).
write(
    {
        **{f"headpkg/{leaf}.py": f"NAME = {leaf!r}\n" for leaf in ("a", "b", "c", "d")},
        "headpkg/__init__.py": "",
        "app/api/routers/heads.py": """
            def import_a():
                import headpkg.a
                return headpkg

            def import_b():
                import headpkg.b
                return headpkg.b

            def from_c():
                from headpkg import c
                return c

            def from_d():
                from headpkg.d import NAME
                return NAME
        """,
    }
)
with install(POLICY):
    heads = importlib.import_module("app.api.routers.heads")
    for _ in range(3):  # a first load, then the name loaded (learnt), then the fast path
        assert heads.import_a() is sys.modules["headpkg"]
        assert heads.import_b() is sys.modules["headpkg.b"]
        assert heads.from_c() is sys.modules["headpkg.c"]
        assert heads.from_d() == "d"
unload("headpkg")
with install(make_policy(forbidden_in_protected=("headpkg.b", "headpkg.d"))):
    for _ in range(2):
        assert heads.import_a() is sys.modules["headpkg"]
        assert blocked(heads.import_b).imported == "headpkg.b"
        assert heads.from_c() is sys.modules["headpkg.c"]
        assert blocked(heads.from_d).imported == "headpkg.d"

# Threads making first loads of names decided by their first segment, and forbidden
# imports, at once: each gets what it would get alone.
write(
    {
        **{f"threadpkg/m{n}.py": f"N = {n}\n" for n in range(16)},
        "threadpkg/__init__.py": "",
        "app/api/routers/threaded.py": """
            import importlib

            def load(n):
                return __import__(f"threadpkg.m{n}", fromlist=("N",)).N

            def forbidden():
                import fakehttp.sub
        """,
    }
)
results = {}


def worker(n):
    try:
        threaded.forbidden()
    except ForbiddenImportError as exc:
        results[n, "forbidden"] = exc.imported
    results[n, "free"] = threaded.load(n)


with install(POLICY):
    threaded = importlib.import_module("app.api.routers.threaded")
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
for n in range(16):
    assert results[n, "free"] == n, results
    assert results[n, "forbidden"] == "fakehttp.sub", results
done()
