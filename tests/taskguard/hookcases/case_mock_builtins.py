# ruff: noqa: E402, PT018 - a plain script run in a fresh interpreter
"""Later changes to builtins stay visible to guarded code; its builtins mapping behaves
like the real one for introspection and writes through to it."""

import builtins
import json
from unittest import mock

from _support import POLICY, blocked, done, write

from taskguard import install

write(
    {
        "app/api/routers/io.py": """
            def read(path):
                with open(path) as fh:
                    return fh.read()

            def ask():
                return input("?")

            def length(x):
                return len(x)

            def lazy_json():
                import json
                return json

            def forbidden():
                import fakehttp

            def publish():
                __builtins__["tg_marker"] = "written"
        """
    }
)
install(POLICY)
from app.api.routers import io

with mock.patch("builtins.open", mock.mock_open(read_data="patched")):
    assert io.read("no-such-file") == "patched"
assert io.read(io.__file__).startswith("def read")
with mock.patch("builtins.input", return_value="yes"):
    assert io.ask() == "yes"
original_len = builtins.len
builtins.len = lambda x: 42
try:
    assert io.length([1]) == 42
finally:
    builtins.len = original_len
assert io.length([1]) == 1

# a patched builtins.__import__ is honoured for imports the guard lets through
seen = []
real_import = builtins.__import__


def spy(name, *args, **kwargs):
    seen.append(name)
    return real_import(name, *args, **kwargs)


with mock.patch("builtins.__import__", spy):
    assert io.lazy_json() is json
    blocked(io.forbidden)
assert "json" in seen and "fakehttp" not in seen, seen

guarded = io.__builtins__
assert "len" in guarded and guarded.get("len") is len and guarded["len"] is len
assert guarded.get("no_such_builtin", "dflt") == "dflt"
assert set(dict(guarded)) == set(vars(builtins))
assert dict(guarded)["__import__"] is not builtins.__import__
io.publish()
assert builtins.tg_marker == "written"
del builtins.tg_marker
done()
