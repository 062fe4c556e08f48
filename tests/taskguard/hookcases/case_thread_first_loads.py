# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""Imports in threads that protected code starts (docs/runtime-guard.md, Limits, "Threads").

Caught: a thread, pool or to_thread running protected code, or the module's own (guarded)
import functions, whether the target is loaded or not. Not caught, pinned here: a first
load by the *real* import machinery (reached around the module's builtins and views) as
the thread's own target, because the second line attributes a first load to the frames on
the importing thread's stack, and that thread has no protected frame."""

import sys

from _support import POLICY, blocked, done, unload, write

from taskguard import install

write(
    {
        "app/api/routers/threads.py": """
            import asyncio
            import importlib
            import threading
            from concurrent.futures import ThreadPoolExecutor

            REAL_IMPORT = len.__self__.__import__  # the real builtins' __import__
            REAL_IMPORT_MODULE = __import__("sys").modules["importlib"].import_module

            def here(target, *args):
                return target(*args)

            def lazy():
                import fakehttp
                return fakehttp

            def in_thread(target, *args):
                box = {}

                def run():
                    try:
                        box["result"] = target(*args)
                    except BaseException as exc:
                        box["error"] = exc

                thread = threading.Thread(target=run)
                thread.start()
                thread.join()
                if "error" in box:
                    raise box["error"]
                return box["result"]

            def raw_thread(target, *args):
                # the target itself runs on the thread: no protected frame below it
                thread = threading.Thread(target=target, args=args)
                thread.start()
                thread.join()

            def in_pool(target, *args):
                with ThreadPoolExecutor(max_workers=1) as pool:
                    return pool.submit(target, *args).result()

            def in_to_thread(target, *args):
                return asyncio.run(asyncio.to_thread(target, *args))

            def guarded_import_module(name):
                return importlib.import_module  # this module's view: guarded
        """
    }
)
guard = install(POLICY)
from app.api.routers import threads

guarded = threads.guarded_import_module("x")
assert guarded is not threads.REAL_IMPORT_MODULE

# Caught, loaded or not: protected code on the thread, or the module's guarded functions.
for first_load in (False, True):
    for runner in (threads.in_thread, threads.in_pool, threads.in_to_thread):
        if first_load:
            unload("fakehttp")
        error = blocked(lambda runner=runner: runner(threads.lazy))
        assert error.importer == "app.api.routers.threads", runner
        if first_load:
            unload("fakehttp")
        error = blocked(lambda runner=runner: runner(guarded, "fakehttp"))
        assert error.importer == "app.api.routers.threads", runner

# Not caught (the documented limit): the real __import__ / import_module as the thread's
# own target, first load included. The same call on the calling thread is caught.
for real in (threads.REAL_IMPORT, threads.REAL_IMPORT_MODULE):
    unload("fakehttp")
    error = blocked(lambda real=real: threads.here(real, "fakehttp"))
    assert error.importer == "app.api.routers.threads"
before = len(guard.violations)
for runner, real in (
    (threads.raw_thread, threads.REAL_IMPORT),
    (threads.in_pool, threads.REAL_IMPORT_MODULE),
    (threads.in_to_thread, threads.REAL_IMPORT_MODULE),
):
    unload("fakehttp")
    runner(real, "fakehttp")
    assert "fakehttp" in sys.modules, runner
# Not caught either: exec/eval given as the thread's own target. Without globals, the code
# runs in the namespace of the frame that called exec (threading's, concurrent.futures',
# contextvars' C call from asyncio), so its imports are that module's.
for runner in (threads.raw_thread, threads.in_pool, threads.in_to_thread):
    for run_code, source in ((exec, "import fakehttp"), (eval, "__import__('fakehttp')")):
        unload("fakehttp")
        runner(run_code, source)
        assert "fakehttp" in sys.modules, (runner, run_code)
assert len(guard.violations) == before
# The same exec on the calling thread runs in the protected module's namespace: caught.
unload("fakehttp")
assert blocked(lambda: threads.here(exec, "import fakehttp")).importer == "app.api.routers.threads"
done()
