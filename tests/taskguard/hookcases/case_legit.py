# ruff: noqa: E402 - a plain script run in a fresh interpreter
"""Legitimate code keeps working under the guard (no false positives): libraries importing
their own dependencies lazily when protected code calls them, standard-library modules
that load a forbidden module internally, C functions importing lazily (datetime.strptime),
typing/dataclasses/enum/NamedTuple/TypedDict, string annotations, TYPE_CHECKING imports,
warnings, logging, tracebacks, pickling first-party objects, first-party modules that are
not protected, and the guarded module's own package reached by relative imports."""

import datetime
import sys

from _support import POLICY, blocked, done, unload, write

from taskguard import install

write(
    {
        "thirdparty/__init__.py": """
            def fetch():
                import fakehttp
                import http.client
                return fakehttp.NAME, http.client.__name__
        """,
        "app/api/routers/legit.py": """
            from __future__ import annotations

            import dataclasses
            import enum
            import logging
            import pickle
            import traceback
            import typing
            import warnings
            from typing import TYPE_CHECKING, NamedTuple, TypedDict

            from . import helpers
            from .helpers import VALUE

            if TYPE_CHECKING:
                import fakehttp

            @dataclasses.dataclass(frozen=True)
            class Episode:
                title: str
                client: fakehttp.Client | None = None

            class Color(enum.Enum):
                RED = 1

            class Pair(NamedTuple):
                a: int
                b: int

            class Payload(TypedDict):
                id: int

            def call_library():
                import thirdparty
                return thirdparty.fetch()

            def stdlib_internals():
                import xmlrpc.client  # imports http.client itself
                import concurrent.futures
                return xmlrpc.client.__name__, concurrent.futures.ThreadPoolExecutor.__name__

            def c_lazy_import():
                import datetime
                return datetime.datetime.strptime("2024-01-02", "%Y-%m-%d")

            def hints():
                return typing.get_type_hints(Pair), typing.get_type_hints(Payload)

            def roundtrip():
                return pickle.loads(pickle.dumps((Episode("a"), Color.RED, Pair(1, 2))))

            def noisy():
                logging.getLogger(__name__).warning("careful")
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    warnings.warn("deprecated", DeprecationWarning, stacklevel=1)
                try:
                    raise ValueError("x")
                except ValueError:
                    text = traceback.format_exc()
                return len(caught), "ValueError" in text

            def relative():
                return helpers.VALUE, VALUE
        """,
        "app/api/routers/helpers.py": "VALUE = 'helper'\n",
        "app/services/free.py": """
            import fakehttp

            def lazy():
                import fakehttp.sub
                from fakecloud import tasks as _  # noqa: F401 - TG001 applies everywhere
        """,
    }
)
unload("fakehttp", "http.client", "xmlrpc")
guard = install(POLICY)
from app.api.routers import legit

assert legit.call_library() == ("fakehttp", "http.client")
assert legit.stdlib_internals() == ("xmlrpc.client", "ThreadPoolExecutor")
assert legit.c_lazy_import() == datetime.datetime(2024, 1, 2)
assert legit.hints() == ({"a": int, "b": int}, {"id": int})
episode, color, pair = legit.roundtrip()
assert (episode.title, color, pair) == ("a", legit.Color.RED, (1, 2))
assert legit.noisy() == (1, True)
assert legit.relative() == ("helper", "helper")
assert legit.Episode.__dataclass_fields__["client"].type == "fakehttp.Client | None"
import app.services.free as free

assert free.fakehttp.NAME == "fakehttp"
assert blocked(free.lazy).code == "TG001"
assert [(v.importer, v.code) for v in guard.violations] == [("app.services.free", "TG001")]
assert "fakehttp.sub" in sys.modules  # the unprotected module imported it
done()
