# ruff: noqa: E402, PT018 - a plain script run in a fresh interpreter
"""coverage measures guarded modules."""

import os

from _support import POLICY, blocked, done, needs, write

from taskguard import install

coverage = needs("coverage")

write(
    {
        "app/api/routers/cov.py": """
            def f(x):
                y = x + 1
                return y

            def g():
                import fakehttp
        """
    }
)
cov = coverage.Coverage(data_file=None, config_file=False)
cov.start()
install(POLICY)
from app.api.routers import cov as target

assert target.f(1) == 2
blocked(target.g)
cov.stop()
lines = cov.get_data().lines(os.path.abspath(target.__file__))
assert lines is not None and {1, 2, 3, 5, 6} <= set(lines), lines
done()
