# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""Guard.allowing() permits named imports inside a block; policy allow entries always."""

from _support import blocked, done, make_policy, write

from taskguard import AllowEntry, PolicyError, install

write(
    {
        "app/api/routers/a.py": "def f():\n    import fakehttp\n    return fakehttp\n",
        "app/api/routers/health.py": "import fakehttp\n",
    }
)
policy = make_policy(
    allow=(AllowEntry("app.api.routers.health", "fakehttp", "probes the upstream API"),)
)
guard = install(policy)
import app.api.routers.a as a
import app.api.routers.health  # noqa: F401 - allowed by the policy

assert guard.violations == ()
with guard.allowing("fakehttp", reason="this block probes the upstream API"):
    assert a.f().NAME == "fakehttp"
    assert a.f().NAME == "fakehttp"
assert guard.violations == ()
assert blocked(a.f).importer == "app.api.routers.a"  # never cached as allowed
assert len(guard.violations) == 1

for args, kwargs in (
    (("fakehttp",), {"reason": "  "}),
    (("not a pattern!",), {"reason": "x"}),
    ((), {"reason": "x"}),
):
    try:
        with guard.allowing(*args, **kwargs):
            raise AssertionError("entered")
    except PolicyError:
        pass
    else:
        raise AssertionError(f"allowing{args} was accepted")
done()
