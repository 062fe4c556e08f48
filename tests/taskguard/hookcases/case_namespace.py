# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""Namespace packages pass through unwrapped; their modules are guarded, across portions."""

import importlib.machinery
import sys

from _support import ROOT, blocked, done, import_blocked, make_policy, write

from taskguard import install

write({"nsapp/api/routers/__init__.py": "", "nsapp/api/routers/views.py": "import fakehttp\n"})
write({"nsapp/worker/jobs.py": "def run():\n    import fakehttp\n"}, base=ROOT / "portion")
sys.path.append(str(ROOT / "portion"))
install(make_policy(root_packages=("nsapp",), protected=("nsapp.api.routers", "nsapp.worker")))
import nsapp

spec = nsapp.__spec__
assert spec.origin in (None, "namespace"), spec.origin
assert (
    spec.loader is None
    or isinstance(spec.loader, getattr(importlib.machinery, "NamespaceLoader", object))
    or type(spec.loader).__name__ == "_NamespaceLoader"
), spec.loader
assert len(list(nsapp.__path__)) == 2

err = import_blocked("nsapp.api.routers.views")
assert err.importer == "nsapp.api.routers.views"
from nsapp.worker import jobs

assert blocked(jobs.run).importer == "nsapp.worker.jobs"
done()
