# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""exec/eval/compile in a guarded module's namespace use its builtins."""

from _support import POLICY, blocked, done, unload, write

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

            def run_exec_real_builtins():
                import builtins
                exec("import fakehttp", {"__builtins__": builtins})

            def run_function_real_builtins():
                import builtins, types
                code = compile("import fakehttp", "<made>", "exec")
                types.FunctionType(code, {"__builtins__": builtins})()

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
# Handing the code the real builtins escapes the guarded __import__; the first load is
# still caught by the finder's frame check, which looks through namespace-less globals.
for call in (dynamic.run_exec_real_builtins, dynamic.run_function_real_builtins):
    unload("fakehttp")
    err = blocked(call)
    assert (err.importer, err.imported) == ("app.api.routers.dynamic", "fakehttp")
assert dynamic.clean() == 2
done()
