"""``taskguard check`` over the whole project as one pytest item, for the pytest plugin.

A module of its own so that a session without the item (``--no-taskguard-check``, no
``[tool.taskguard]`` table, single tests picked) never loads it: ``pytest_plugin`` imports
it when it inserts the item. The checker, the baseline and the report are imported when the
item runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from taskguard._policy import Policy


class CheckFailed(Exception):
    """``taskguard check`` found violations."""

    def __init__(self, rendered: str) -> None:
        super().__init__(rendered)
        self.rendered = rendered


class TaskguardCheckItem(pytest.Item):
    """``taskguard check`` over the whole project, as one test (it uses the check cache)."""

    def __init__(self, *, policy: Policy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy

    def runtest(self) -> None:
        from taskguard._errors import BaselineError
        from taskguard._report import render
        from taskguard._static import check

        try:
            # The baseline file, like `taskguard check`: baselined violations do not fail.
            result = check(None, policy=self.policy, use_cache=True, baseline=True)
        except BaselineError as exc:
            raise CheckFailed(f"taskguard: error: {exc}") from None
        if not result.files_checked:
            # Checking nothing is no pass (the CLI exits 2 for it).
            raise CheckFailed(f"taskguard check: no files checked: {result.empty_reason}")
        if result.violations:
            raise CheckFailed(render(result, "text"))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CheckFailed):
            return excinfo.value.rendered
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, "taskguard check"
