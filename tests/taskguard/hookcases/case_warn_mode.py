"""warn mode logs taskguard.forbidden_import (once per site) and lets the import happen."""

from _support import POLICY, done, needs, write

from taskguard import install

capture_logs = needs("structlog.testing").capture_logs

write(
    {
        "app/api/routers/w.py": """
            import fakehttp

            def lazy():
                from fakecloud import tasks
                return tasks
        """
    }
)
guard = install(POLICY, mode="warn")
assert guard.mode == "warn"
with capture_logs() as logs:
    import app.api.routers.w as w

    for _ in range(3):
        assert w.lazy().NAME == "fakecloud.tasks"
assert w.fakehttp.NAME == "fakehttp"
events = [entry for entry in logs if entry["event"] == "taskguard.forbidden_import"]
assert len(events) == 2, logs
first, second = events
assert first["log_level"] == "warning"
assert {k: first[k] for k in ("code", "importer", "imported", "line")} == {
    "code": "TG002",
    "importer": "app.api.routers.w",
    "imported": "fakehttp",
    "line": 1,
}
assert first["file"] == w.__file__
assert "dispatch.enqueue_http_task()" in first["hint"]
assert (second["code"], second["imported"], second["line"]) == ("TG001", "fakecloud.tasks", 4)
assert len(guard.violations) == 2
done()
