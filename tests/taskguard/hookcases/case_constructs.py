# ruff: noqa: E402, PT018 - a plain script run in a fresh interpreter
"""Every code form of a guarded module is checked, whoever calls it and whenever: decorators,
default arguments, class bodies, __init_subclass__, metaclasses, a module __getattr__
(PEP 562), async generators, functools.partial and operator.methodcaller over guarded
functions, thread-pool workers, signal handlers, atexit and weakref.finalize callbacks,
copyreg reducers, the C unpickler's find_class and ctypes' PyImport_ImportModule."""

import asyncio
import copyreg
import functools
import operator
import pickle
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from _support import POLICY, ROOT, blocked, done, import_blocked, write

from taskguard import ForbiddenImportError, install

write(
    {
        "app/api/routers/forms.py": """
            import functools
            import importlib
            import operator

            def lazily(func):
                @functools.wraps(func)
                def wrapper(*args):
                    import fakehttp
                    return func(*args)
                return wrapper

            @lazily
            def decorated():
                return "ran"

            def with_default(module=None):
                return module

            class Base:
                def __init_subclass__(cls, **kwargs):
                    super().__init_subclass__(**kwargs)
                    from fakecloud import tasks

            class Meta(type):
                def __call__(cls, *args):
                    import fakehttp.sub
                    return super().__call__(*args)

            class Built(metaclass=Meta):
                pass

            def __getattr__(name):
                if name == "client":
                    import fakehttp
                    return fakehttp
                raise AttributeError(name)

            async def agen():
                import fakehttp
                yield fakehttp

            PARTIAL = functools.partial(importlib.import_module, "fakehttp")
            CALLER = operator.methodcaller("import_module", "fakehttp.sub")
            IMPORTLIB = importlib

            def job():
                import fakehttp
                return fakehttp

            def handler(signum, frame):
                import fakehttp

            def reduce_point(point):
                from fakecloud import tasks
                return (tuple, ((),))

            class Point:
                pass

            def unpickle(payload):
                import pickle
                return pickle.loads(payload)

            def ctypes_import():
                import ctypes
                function = ctypes.pythonapi.PyImport_ImportModule
                function.restype = ctypes.py_object
                function.argtypes = [ctypes.c_char_p]
                return function(b"fakehttp")
        """,
        "app/api/routers/defaults.py": """
            def f(module=__import__("fakehttp")):
                return module
        """,
        "app/api/routers/subclassed.py": """
            from app.api.routers.forms import Base

            class Child(Base):
                pass
        """,
        "late.py": """
            import atexit
            import weakref
            from _support import POLICY
            from taskguard import install

            guard = install(POLICY)
            from app.api.routers import forms

            class Holder:
                pass

            holder = Holder()
            weakref.finalize(holder, forms.job)
            atexit.register(lambda: print("violations at exit:", len(guard.violations)))
            atexit.register(forms.handler, 0, None)
            del holder
            print("finalized:", len(guard.violations))
        """,
    }
)
guard = install(POLICY)
from app.api.routers import forms

assert blocked(forms.decorated).imported == "fakehttp"
assert import_blocked("app.api.routers.defaults").imported == "fakehttp"
assert import_blocked("app.api.routers.subclassed").imported == "fakecloud.tasks"
assert blocked(forms.Built).imported == "fakehttp.sub"
assert blocked(lambda: forms.client).imported == "fakehttp"  # module __getattr__
assert blocked(lambda: asyncio.run(forms.agen().__anext__())).imported == "fakehttp"
assert blocked(forms.PARTIAL).imported == "fakehttp"
assert blocked(lambda: forms.CALLER(forms.IMPORTLIB)).imported == "fakehttp.sub"
# wrapped again outside the module: still the guarded module's import function
assert blocked(functools.partial(forms.PARTIAL)).imported == "fakehttp"
assert blocked(lambda: operator.methodcaller("job")(forms)).imported == "fakehttp"

with ThreadPoolExecutor(max_workers=2) as pool:
    for future in [pool.submit(forms.job), pool.submit(forms.PARTIAL)]:
        assert blocked(future.result).importer == "app.api.routers.forms"

signal.signal(signal.SIGUSR1, forms.handler)
err = blocked(lambda: signal.raise_signal(signal.SIGUSR1))
assert err.imported == "fakehttp" and err.importer == "app.api.routers.forms"

copyreg.pickle(forms.Point, forms.reduce_point)
assert blocked(lambda: pickle.dumps(forms.Point())).imported == "fakecloud.tasks"

# the C unpickler imports through the builtins of the code that called pickle.loads
payload = b"cfakehttp\nNAME\n."
assert pickle.loads(payload) == "fakehttp"  # this script is not guarded
assert blocked(lambda: forms.unpickle(payload)).imported == "fakehttp"
assert blocked(forms.ctypes_import).imported == "fakehttp"

# atexit and weakref.finalize callbacks run at exit and at collection: still checked
proc = subprocess.run(
    [sys.executable, "late.py"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
)
assert "finalized: 1" in proc.stdout, (proc.stdout, proc.stderr)
assert "violations at exit: 2" in proc.stdout, (proc.stdout, proc.stderr)
assert ForbiddenImportError.__name__ in proc.stderr, proc.stderr  # the atexit callback's
done()
