# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""importlib.resources, pkgutil and the loader ABCs keep working on guarded packages."""

import importlib.abc
import importlib.machinery
import importlib.resources
import pkgutil

from _support import POLICY, done, write

from taskguard import install

write({"app/assets/__init__.py": "", "app/assets/config.json": '{"a": 1}'})
install(POLICY)
import app.assets

assert importlib.resources.files("app.assets").joinpath("config.json").read_text() == '{"a": 1}'
assert pkgutil.get_data("app.assets", "config.json") == b'{"a": 1}'
import app

assert {m.name for m in pkgutil.iter_modules(app.__path__)} >= {"api", "assets", "worker"}
loader = app.assets.__loader__
assert type(loader).__name__ == "_GuardedSourceFileLoader"
assert isinstance(loader, importlib.machinery.SourceFileLoader)
assert isinstance(loader, importlib.abc.FileLoader)
assert loader.get_resource_reader("app.assets") is not None
assert loader.is_package("app.assets")
done()
