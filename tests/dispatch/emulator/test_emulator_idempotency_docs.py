"""The idempotency test shown in docs/TASK_DISPATCH.md, run as written through pytester.

Against a worker that deduplicates on the task name it passes; against one that applies
every delivery it fails: the documented recipe catches the bug it is there to catch.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "TASK_DISPATCH.md"

APP = """
from fastapi import FastAPI, Request

IDEMPOTENT = {idempotent}
app = FastAPI()


class Orders:
    def __init__(self):
        self.by_order = {{}}
        self.done_tasks = set()

    def charges(self, order_id):
        return list(self.by_order.get(order_id, []))


orders = Orders()


@app.post("/tasks/charge")
async def charge(request: Request):
    body = await request.json()
    headers = request.headers
    task = headers["X-CloudTasks-QueueName"] + "/" + headers["X-CloudTasks-TaskName"]
    if IDEMPOTENT and task in orders.done_tasks:
        return {{"status": "duplicate"}}
    orders.done_tasks.add(task)
    orders.by_order.setdefault(body["order_id"], []).append(body["amount"])
    return {{"status": "done"}}
"""


def _documented_test() -> str:
    text = DOC.read_text()
    section = text.split("## Testing your worker's idempotency", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the section has no python example"
    return match.group(1)


@pytest.mark.parametrize(("idempotent", "outcome"), [(True, "passed"), (False, "failed")])
def test_the_documented_idempotency_test_tells_the_two_workers_apart(
    pytester: pytest.Pytester, idempotent: bool, outcome: str
) -> None:
    pytester.mkpydir("myapp")
    pytester.path.joinpath("myapp", "main.py").write_text(APP.format(idempotent=idempotent))
    pytester.makepyfile(test_charge=_documented_test())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(**{outcome: 1})
    if not idempotent:
        result.stdout.fnmatch_lines(["*assert [[]100, 100[]] == [[]100[]]*"])
