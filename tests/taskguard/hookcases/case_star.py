# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""`from X import *` binds X's public names: one that is a forbidden member or submodule
(concurrent.futures.ProcessPoolExecutor, a dispatch module loaded as an attribute of its
package) is refused, and nothing is bound; a star import binding nothing forbidden works."""

import sys

from _support import POLICY, blocked, done, unload, write

from taskguard import install

write(
    {
        "app/api/routers/stars.py": """
            def futures():
                namespace = {}
                exec("from concurrent.futures import *", namespace)
                return namespace

            def cloud():
                namespace = {}
                exec("from fakecloud import *", namespace)
                return namespace

            def listed():
                namespace = {}
                exec("from app.api.reexport import *", namespace)
                return namespace

            def clean():
                namespace = {}
                exec("from json import *", namespace)
                return namespace
        """,
        "app/api/reexport.py": """
            __all__ = ["Client"]
            from fakehttp import NAME as Client
        """,
    }
)
guard = install(POLICY)
from app.api.routers import stars

err = blocked(stars.futures)
assert (err.importer, err.imported) == (
    "app.api.routers.stars",
    "concurrent.futures.ProcessPoolExecutor",
), err
assert (err.filename, err.lineno) == ("<string>", 1), (err.filename, err.lineno)

# fakecloud.tasks is loaded (by _support), so it is an attribute a star import would bind
assert "fakecloud.tasks" in sys.modules
err = blocked(stars.cloud)
assert (err.code, err.imported) == ("TG001", "fakecloud.tasks"), err
# not loaded: `from fakecloud import *` binds nothing of it
unload("fakecloud")
assert "tasks" not in stars.cloud()

# a first-party module re-exporting a forbidden object is the re-exporter's business
assert stars.listed()["Client"] == "fakehttp"
assert "dumps" in stars.clean()
assert {v.imported for v in guard.violations} == {
    "concurrent.futures.ProcessPoolExecutor",
    "fakecloud.tasks",
}
done()
