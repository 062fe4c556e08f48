# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""An extension module that imports during its initialisation is caught by the second line."""

import importlib.machinery
import shutil
import subprocess
import sysconfig
from pathlib import Path

from _support import POLICY, ROOT, done, import_blocked, skip, unload, write

from taskguard import install

compiler = shutil.which("cc") or shutil.which("gcc")
include = sysconfig.get_paths()["include"]
if compiler is None or not Path(include, "Python.h").is_file():
    skip("no C compiler or Python headers for this interpreter")

TEMPLATE = """
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "NAME", NULL, -1, NULL};
PyMODINIT_FUNC PyInit_NAME(void) {
    PyObject *dep = PyImport_ImportModule("TARGET");
    if (dep == NULL) return NULL;
    Py_DECREF(dep);
    return PyModule_Create(&def);
}
"""
suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
for name, target in (("native", "fakehttp"), ("clean", "json")):
    source = ROOT / f"{name}.c"
    write({f"{name}.c": TEMPLATE.replace("NAME", name).replace("TARGET", target)})
    subprocess.run(
        [
            compiler,
            "-shared",
            "-fPIC",
            "-I",
            include,
            "-o",
            str(ROOT / "app/api/routers" / f"{name}{suffix}"),
            str(source),
        ],
        check=True,
    )
unload("fakehttp")
install(POLICY)
err = import_blocked("app.api.routers.native")
assert (err.importer, err.imported) == ("app.api.routers.native", "fakehttp"), err
assert err.filename.endswith(suffix), err.filename
import app.api.routers.clean as clean

assert isinstance(clean.__loader__, importlib.machinery.ExtensionFileLoader)
assert type(clean.__loader__).__name__ == "_GuardedExtensionFileLoader"
assert "__builtins__" not in vars(clean)
done()
