"""Issue #11, part 3, as a demanding user: the thread and process routes the docs
(docs/runtime-guard.md, Limits, "Threads" and "Processes") do not name in
case_thread_first_loads.

Threads: ``threading.Timer`` and ``loop.run_in_executor()`` running protected code are
guarded like a thread or a pool, first load or not; the real ``__import__`` as their own
target is not, as for a thread. Processes: ``install()`` guards its own process and the
children it forks; a child started by ``spawn`` or ``forkserver`` is a new interpreter,
guarded only if it installs the guard itself (here the main module installs it under
``if __name__ == "__main__":``, so a spawn child, which imports the main module as
``__mp_main__``, does not)."""

import importlib
import multiprocessing
import sys

from _support import POLICY, blocked, done, unload, write

from taskguard import install

write(
    {
        "app/api/routers/later.py": """
            import asyncio
            import threading

            REAL_IMPORT = len.__self__.__import__  # the real builtins' __import__

            def lazy():
                import fakehttp
                return fakehttp.NAME

            def in_timer(target, *args):
                box = {}

                def run():
                    try:
                        box["result"] = target(*args)
                    except BaseException as exc:
                        box["error"] = exc

                timer = threading.Timer(0.0, run)
                timer.start()
                timer.join()
                if "error" in box:
                    raise box["error"]
                return box["result"]

            def raw_timer(target, *args):
                timer = threading.Timer(0.0, target, args)
                timer.start()
                timer.join()

            def in_executor(target, *args):
                async def main():
                    loop = asyncio.get_running_loop()
                    return await loop.run_in_executor(None, target, *args)

                return asyncio.run(main())

            def in_process(method):
                import multiprocessing

                with multiprocessing.get_context(method).Pool(1) as pool:
                    return pool.apply(lazy)
        """
    }
)


def main():
    guard = install(POLICY)
    from app.api.routers import later

    for first_load in (False, True):
        for runner in (later.in_timer, later.in_executor):
            if first_load:
                unload("fakehttp")
            error = blocked(lambda runner=runner: runner(later.lazy))
            assert error.importer == "app.api.routers.later", runner
            importlib.import_module("fakehttp")
    before = len(guard.violations)
    for runner in (later.raw_timer, later.in_executor):
        unload("fakehttp")
        runner(later.REAL_IMPORT, "fakehttp")
        assert "fakehttp" in sys.modules, runner
    assert len(guard.violations) == before

    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods:
        error = blocked(lambda: later.in_process("fork"))
        assert error.importer == "app.api.routers.later"
    for method in ("spawn", "forkserver"):
        if method in methods:
            assert later.in_process(method) == "fakehttp", method
    done()


if __name__ == "__main__":
    main()
