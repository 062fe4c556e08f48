"""The guard test: task dispatch goes through ``app.infrastructure.tasks_client`` only.

Run it on its own (``pytest app/infrastructure/task_client_guard.py``) or let the taskguard
pytest plugin do the same in every test run. The policy is ``[tool.taskguard]`` in
pyproject.toml; ``taskguard explain TG001`` says what each code means.
"""

from __future__ import annotations

from pathlib import Path

import taskguard

SERVICE_ROOT = Path(__file__).resolve().parents[2]  # the directory of pyproject.toml


def test_no_unauthorized_task_imports() -> None:
    result = taskguard.check([SERVICE_ROOT])
    found = [f"{v.path}:{v.line}: {v.code} {v.message}" for v in result.violations]
    assert result.files_checked > 0, "no file was checked: is SERVICE_ROOT right?"
    assert not found, "task dispatch outside tasks_client:\n" + "\n".join(found)
