# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""pickle, copy, inspect, typing, dataclasses and tracebacks work on guarded modules."""

import copy
import inspect
import pickle
import traceback
import typing

from _support import POLICY, done, write

from taskguard import install

write(
    {
        "app/api/routers/models.py": """
            import dataclasses
            import pickle

            @dataclasses.dataclass(frozen=True)
            class Point:
                x: int
                y: int = 0

            def area(p: "Point") -> int:
                \"\"\"The area.\"\"\"
                return p.x * p.y

            def roundtrip(obj):
                return pickle.loads(pickle.dumps(obj))

            def fail():
                raise ValueError("boom")
        """
    }
)
install(POLICY)
from app.api.routers import models

point = models.Point(2, 3)
for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
    assert pickle.loads(pickle.dumps(point, protocol)) == point
assert models.roundtrip(point) == point
assert pickle.loads(pickle.dumps(models.area)) is models.area
assert copy.deepcopy(point) == point
assert inspect.getsource(models.area).startswith("def area(p")
assert inspect.getdoc(models.area) == "The area."
assert inspect.getmodule(models.area) is models
assert typing.get_type_hints(models.area) == {"p": models.Point, "return": int}
try:
    models.fail()
except ValueError:
    text = traceback.format_exc()
assert 'raise ValueError("boom")' in text, text
done()
