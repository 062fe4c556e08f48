# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""A violation swallowed by `except ImportError` is still recorded on the Guard."""

from _support import POLICY, done, write

from taskguard import Violation, install

write(
    {
        "app/worker/tasks.py": """
            try:
                import fakehttp
            except ImportError:
                fakehttp = None

            def job():
                try:
                    from fakecloud import tasks
                except ImportError:
                    return "fallback"
        """
    }
)
guard = install(POLICY)
import app.worker.tasks as tasks

assert tasks.fakehttp is None
assert tasks.job() == "fallback"
assert tasks.job() == "fallback"
path = tasks.__file__
assert guard.violations == (
    Violation(
        path,
        2,
        0,
        "TG002",
        "app.worker.tasks",
        "fakehttp",
        "app.worker.tasks (protected by app.worker.tasks) imports forbidden fakehttp",
    ),
    Violation(
        path,
        8,
        0,
        "TG001",
        "app.worker.tasks",
        "fakecloud.tasks",
        "app.worker.tasks imports dispatch library fakecloud.tasks; "
        "only app.infrastructure.tasks_client may",
    ),
), guard.violations
done()
