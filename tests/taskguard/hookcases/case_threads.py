# ruff: noqa: E402, PT018 - a plain script run in a fresh interpreter
"""Guarded code running in other threads is checked too."""

import threading
from concurrent.futures import ThreadPoolExecutor

from _support import POLICY, blocked, done, write

from taskguard import ForbiddenImportError, install

write(
    {
        "app/worker/tasks.py": """
            import threading

            def job():
                import fakehttp
                return fakehttp

            def spawn(errors):
                def target():
                    try:
                        from fakecloud import tasks
                    except ImportError as exc:
                        errors.append(exc)
                thread = threading.Thread(target=target)
                thread.start()
                thread.join()
        """
    }
)
guard = install(POLICY)
from app.worker import tasks

with ThreadPoolExecutor(max_workers=2) as pool:
    futures = [pool.submit(tasks.job) for _ in range(4)]
    for future in futures:
        blocked(future.result)

errors: list[BaseException] = []
thread = threading.Thread(target=lambda: errors.append(blocked(tasks.job)))
thread.start()
thread.join()
assert len(errors) == 1 and isinstance(errors[0], ForbiddenImportError)

spawned: list[BaseException] = []
tasks.spawn(spawned)
assert len(spawned) == 1 and isinstance(spawned[0], ForbiddenImportError), spawned
assert spawned[0].code == "TG001" and spawned[0].imported == "fakecloud.tasks"
assert {(v.code, v.imported) for v in guard.violations} == {
    ("TG002", "fakehttp"),
    ("TG001", "fakecloud.tasks"),
}
done()
