# ruff: noqa: PT018 - a plain script run in a fresh interpreter
"""ForbiddenImportError carries structured fields, names everything, and pickles."""

import pickle

from _support import POLICY, done, import_blocked, write

from taskguard import ForbiddenImportError, TaskguardError, install

write({"app/worker/tasks.py": "import json\nfrom fakecloud import tasks\n"})
guard = install(POLICY)
err = import_blocked("app.worker.tasks")
assert isinstance(err, ImportError) and isinstance(err, TaskguardError)
assert (err.importer, err.imported, err.code) == ("app.worker.tasks", "fakecloud.tasks", "TG001")
assert err.filename.endswith("app/worker/tasks.py") and err.lineno == 2
assert err.name == "fakecloud.tasks"
message = str(err)
for part in (
    "TG001",
    "app.worker.tasks",
    "fakecloud.tasks",
    f"{err.filename}:2",
    "dispatch.enqueue_http_task()",
):
    assert part in message, (part, message)
clone = pickle.loads(pickle.dumps(err))
assert type(clone) is ForbiddenImportError and str(clone) == message
assert (clone.importer, clone.imported, clone.code, clone.filename, clone.lineno) == (
    err.importer,
    err.imported,
    err.code,
    err.filename,
    err.lineno,
)
(violation,) = guard.violations
assert (violation.path, violation.line, violation.code) == (err.filename, 2, "TG001")
done()
