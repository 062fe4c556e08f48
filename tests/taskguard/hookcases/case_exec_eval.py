# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""exec/eval/compile in a guarded module's namespace use its builtins."""

from _support import POLICY, blocked, done, write

from taskguard import install

write(
    {
        "app/api/routers/dynamic.py": """
            def run_exec():
                exec("import fakehttp")

            def run_exec_fresh():
                exec("import fakehttp", {})

            def run_eval():
                return eval("__import__('fakehttp')")

            def run_compiled():
                exec(compile("from fakehttp import sub", "<generated>", "exec"), globals())

            def clean():
                return eval("len([1, 2])")
        """
    }
)
install(POLICY)
from app.api.routers import dynamic

for call, filename in (
    (dynamic.run_exec, "<string>"),
    (dynamic.run_exec_fresh, "<string>"),
    (dynamic.run_eval, "<string>"),
    (dynamic.run_compiled, "<generated>"),
):
    err = blocked(call)
    assert err.importer == "app.api.routers.dynamic"
    assert (err.filename, err.lineno) == (filename, 1), (err.filename, err.lineno)
assert dynamic.clean() == 2
done()
