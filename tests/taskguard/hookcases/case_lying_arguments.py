"""What the guard checks is exactly what gets imported: str subclasses lying about their
hash or equality, an int level lying about its truth, a globals mapping answering
differently on each read, a fromlist iterable yielding different names each time, and
writes through the module's own builtins mapping cannot slip a forbidden import past it.
Each attack runs in a module of its own (some leave their module's builtins altered), all
of them in one interpreter (a poisoned cache would show in the attacks after it), once with
the targets loaded and once without."""

import builtins
import importlib

from _support import POLICY, done, unload, write

from taskguard import ForbiddenImportError, install

ATTACKS = """
import sys

class Lie(str):  # holds "fakehttp", hashes and compares like "json"
    def __hash__(self):
        return hash("json")

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

class LieBack(str):  # holds "json", hashes like "fakehttp": would poison name caches
    def __hash__(self):
        return hash("fakehttp")

    def __eq__(self, other):
        return True

class Falsy(int):
    def __bool__(self):
        return False

class Flip(dict):
    reads = 0

    def get(self, key, default=None):
        if key == "__package__":
            Flip.reads += 1
            return "app" if Flip.reads == 1 else "fakecloud"
        return dict.get(self, key, default)

class Shifty:
    iterations = 0

    def __iter__(self):
        Shifty.iterations += 1
        return iter(["other"] if Shifty.iterations == 1 else ["tasks"])

def lie_on_the_fast_path():
    import json
    del sys.modules["json"]  # so the lookup by the lying hash finds nothing
    return __import__(Lie("fakehttp"))

def poisoned_name_cache():
    __import__(LieBack("json"))
    import fakehttp

def lying_fromlist_item():
    __import__("fakecloud", fromlist=["other"])  # clean, and cached as such
    return __import__("fakecloud", fromlist=[Lie("tasks")])

def falsy_level():
    return __import__("", {"__package__": "fakecloud"}, None, ["tasks"], Falsy(1))

def flipping_globals():
    return __import__("tasks", Flip(__name__="x"), None, ["NAME"], 1)

def shifty_fromlist():
    __import__("fakecloud", None, None, Shifty(), 0)
    return "fakecloud.tasks" in sys.modules  # imported by a second iteration?

OTHER = ("other",)

# A from-import made twice is remembered by the identity of its fromlist tuple (the
# guard's fast path); these reuse or imitate a remembered tuple.
def remembered_fromlist_other_module():
    for _ in range(3):
        __import__("fakecloud", fromlist=OTHER)
        __import__("json", fromlist=OTHER)
    return __import__("fakehttp", fromlist=OTHER)

def remembered_fromlist_lying_name():
    for _ in range(3):
        __import__("fakecloud", fromlist=OTHER)
    return __import__(Lie("fakehttp"), fromlist=OTHER)

def equal_fromlist_lying_item():
    for _ in range(3):
        __import__("fakecloud", fromlist=("other",))
    return __import__("fakecloud", fromlist=(Lie("tasks"),))  # equal, not the same tuple

class LikeOther(str):  # holds "tasks", hashes and compares like "other"
    def __hash__(self):
        return hash("other")

    def __eq__(self, other):
        return True

class LikeOsPath(str):  # holds "fakehttp.sub", hashes and compares like "os.path"
    def __hash__(self):
        return hash("os.path")

    def __eq__(self, other):
        return True

def anyone_fromlist_lying_item():
    # ("other",) from fakecloud is clean whoever imports it: remembered for every module
    __import__("fakecloud", fromlist=("other",))
    return __import__("fakecloud", fromlist=(LikeOther("tasks"),))

def anyone_dotted_lying_name():
    import os.path  # clean whoever imports it: remembered for every module
    return __import__(LikeOsPath("fakehttp.sub"))

def pop_own_import():
    __builtins__.pop("__import__")
    import fakehttp

def delete_own_import():
    try:
        del __builtins__["__import__"]
    except KeyError:
        pass
    import fakehttp

def update_own_import():
    __builtins__.update(__import__=__builtins__["__import__"])
    import fakehttp
"""

expected = {
    "lie_on_the_fast_path": "BLOCKED fakehttp",
    "poisoned_name_cache": "BLOCKED fakehttp",
    "lying_fromlist_item": "BLOCKED fakecloud.tasks",
    "falsy_level": "BLOCKED fakecloud.tasks",
    "remembered_fromlist_other_module": "BLOCKED fakehttp",
    "remembered_fromlist_lying_name": "BLOCKED fakehttp",
    "equal_fromlist_lying_item": "BLOCKED fakecloud.tasks",
    "anyone_fromlist_lying_item": "BLOCKED fakecloud.tasks",
    "anyone_dotted_lying_name": "BLOCKED fakehttp.sub",
    "pop_own_import": "BLOCKED fakehttp",
    "delete_own_import": "BLOCKED fakehttp",
    "update_own_import": "BLOCKED fakehttp",
}
attacks = (*expected, "flipping_globals", "shifty_fromlist")
states = ("loaded", "first")
write({f"app/api/routers/{state}_{attack}.py": ATTACKS for state in states for attack in attacks})
install(POLICY)
namespace = vars(builtins)
saved = dict(namespace)
seen = {}
for state in states:
    for attack in attacks:
        # writes through a module's builtins mapping reach the real builtins, as they would
        # without the guard (pop_own_import removes builtins.__import__): put them back
        namespace.update(saved)
        module = importlib.import_module(f"app.api.routers.{state}_{attack}")
        if state == "first":
            unload("fakehttp", "fakecloud")
        else:
            for name in ("fakehttp", "fakecloud.tasks"):
                importlib.import_module(name)
        try:
            result = getattr(module, attack)()
        except ForbiddenImportError as exc:
            seen[attack, state] = f"BLOCKED {exc.imported}"
        except Exception as exc:
            seen[attack, state] = f"FAILED {type(exc).__name__} {exc}"
        else:
            seen[attack, state] = f"THROUGH {result!r}"
namespace.update(saved)
for attack, outcome in expected.items():
    for state in states:
        assert seen[attack, state] == outcome, (attack, state, seen[attack, state])
# the fromlist is iterated once: the import gets the names the guard checked
assert seen["shifty_fromlist", "first"] == "THROUGH False", seen
# the package is read once: the import resolves against the one the guard checked
for state in states:
    assert seen["flipping_globals", state].startswith("FAILED ModuleNotFoundError"), seen
done()
