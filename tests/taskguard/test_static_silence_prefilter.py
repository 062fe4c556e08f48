"""The prefilter stays sound for the cases of "never silent": star imports of a member, the
member imported from its defining module, TYPE_CHECKING by binding, local builtins, malformed
suppressions anywhere in a comment, deep code. The full analysis is the oracle, as in
``test_static_speed_features``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_static_speed_features import (
    FRAGMENTS,
    MODULES,
    POLICY,
    POLICY_GRAPH,
    PREFILTERS,
    passes_what_matters,
    random_project,
)
from test_static_speed_features import encode as encode_as

from taskguard import CheckResult, Violation, check
from taskguard._static import FULL, run_check
from taskguard._static.records import FAILED
from taskguard._static.source import analyze_source

NEW_FRAGMENTS = [
    "from concurrent.futures import *\npool = ProcessPoolExecutor()",
    "from concurrent.futures import *\npool = ThreadPoolExecutor()",
    "from concurrent import *\npool = futures.ProcessPoolExecutor()",
    "from concurrent.futures.process import ProcessPoolExecutor",
    "from concurrent.futures.process import *\nProcessPoolExecutor()",
    "import concurrent.futures.process as p\np.ProcessPoolExecutor()",
    "from concurrent.futures import process\nprocess.ProcessPoolExecutor()",
    "from google.cloud import *\nclient = tasks_v2.CloudTasksClient()",
    "from urllib import *\nrequest.urlopen('x')",
    "from typing import TYPE_CHECKING as TC\nif TC:\n    import httpx",
    "import typing as t\nif t.TYPE_CHECKING:\n    import requests",
    "from app import settings\nif settings.TYPE_CHECKING:\n    import httpx",
    "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    import requests",
    "TYPE_CHECKING = True\nif not TYPE_CHECKING:\n    from google.cloud import tasks_v2",
    "def f(eval):\n    return eval('x')",
    "g = lambda compile: compile('x')",
    "def f():\n    exec = print\n    exec('x')",
    "def f():\n    from re import compile\ndef g():\n    return compile('x')",
    "import httpx  # noqa: F401  # taskguard: ignore[TG002] -- after noqa",
    "import requests  # taskguard: ignore[TG002] - one dash",
    "x = 1  # taskguard: ignore[TG002] \u2014 em dash",
    "import httpx  # taskguard ignore[TG002] -- no colon",
    "y = 1  # see notes # taskguard: ignore[TG999] -- r",
    "z = 1  # TASKGUARD: ignore[TG002] -- capitals",
    "import httpx  # noqa: F401  # TaskGuard: ignore[TG002] -- capitals after noqa",
    "y = a" + ".b" * 400,
    # A member entry reached by a chain or a star import is a TG004 edge in any module.
    "import concurrent.futures\nconcurrent.futures.ProcessPoolExecutor()",
    "import concurrent.futures as cf\npool = cf.ProcessPoolExecutor",
    "import concurrent\nconcurrent.futures.ThreadPoolExecutor()",
    "from concurrent.futures import *\ndef f(ProcessPoolExecutor):\n    ProcessPoolExecutor()",
    # Loaders by name and by path beyond import_module (TG002 for a constant, else TG003).
    "import pydoc\npydoc.locate('httpx.Client')",
    "from pydoc import locate\nlocate(path='google.cloud.tasks_v2')",
    "import pydoc as d\nd.safeimport(name)",
    "from importlib._bootstrap import _gcd_import as g\ng('requests')",
    "import imp\nimp.load_source('m', 'm.py')",
    "from imp import *\nload_package('m', 'pkg')",
    "spec.loader.exec_module(module)",
    "__loader__.load_module('m')",
    "registry.load_modules()\nimpl = 1",
    "x = 0\nif x == 0:\n    pass\n" + "".join(f"elif x == {i}:\n    pass\n" for i in range(1, 300)),
]
ALL = FRAGMENTS + NEW_FRAGMENTS
sources = st.lists(st.sampled_from(ALL), max_size=5).map("\n".join)
new_sources = st.lists(st.sampled_from(NEW_FRAGMENTS), min_size=1, max_size=4).map("\n".join)
encodings = st.sampled_from(["plain", "crlf", "cr", "bom", "latin1"])


@settings(max_examples=400, deadline=None)
@given(new_sources, encodings, st.sampled_from(MODULES), st.booleans())
def test_prefilter_passes_every_file_that_holds_something_new(
    text: str, how: str, rel: str, graph: bool
) -> None:
    policy = POLICY_GRAPH if graph else POLICY
    module = rel[:-3].replace("/", ".")
    data = encode_as(text, how)
    full = passes_what_matters(data, module, graph=graph)
    # And the analysis of a file the prefilter passes is the full analysis.
    default = analyze_source(
        data, module, False, policy, prefilter=PREFILTERS[graph], graph=graph, parse_all=True
    )
    if PREFILTERS[graph].needs_parse(data, module, policy.is_protected(module)):
        assert default.findings == full.findings
        assert default.suppressions == full.suppressions
        if graph and full.status != FAILED:
            # The graph mode's default may parse up to the last import only (prefix_end):
            # never when a chain or a star-imported member after it is an edge.
            cut = analyze_source(
                data, module, False, policy, prefilter=PREFILTERS[True], graph=True, parse_all=False
            )
            assert cut.imports == full.imports


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.lists(st.tuples(sources, encodings), min_size=len(MODULES), max_size=len(MODULES)),
    st.booleans(),
)
def test_the_default_mode_matches_the_reference_on_the_new_cases(
    bodies: list[tuple[str, str]], indirect: bool
) -> None:
    with random_project(bodies, indirect=indirect):
        reference = run_check(use_cache=False, mode=FULL, jobs=1)
        # Every file the new fragments make relevant is parsed by the default mode. Files
        # that do not parse differ by design (the default mode may leave them unparsed, or
        # parse them up to their last import, see test_static_speed_features), and so may
        # the stale allow entries their imports would have used.
        default = check(use_cache=False, jobs=1)
        broken = {v.path for v in reference.violations if v.code == "TG900"}

        def comparable(result: CheckResult) -> list[Violation]:
            return [
                v
                for v in result.violations
                if v.path not in broken and not (broken and v.path == "pyproject.toml")
            ]

        assert comparable(default) == comparable(reference)
        assert check(use_cache=False, parse_all=True, jobs=2) == reference


def test_the_new_fragments_hold_what_they_claim() -> None:
    # A few anchors, so that a fragment that stopped meaning anything is noticed.
    def codes(text: str) -> list[str]:
        record = analyze_source(
            text.encode(),
            "app.worker.tasks.m4",
            False,
            POLICY,
            prefilter=PREFILTERS[False],
            graph=False,
            parse_all=True,
        )
        return sorted(f.code for f in record.findings)

    assert codes(NEW_FRAGMENTS[0]) == ["TG002"]
    assert codes(NEW_FRAGMENTS[1]) == []
    assert codes(NEW_FRAGMENTS[3]) == ["TG002"]
    assert codes(NEW_FRAGMENTS[7]) == ["TG001"]
    assert codes(NEW_FRAGMENTS[9]) == []
    assert codes(NEW_FRAGMENTS[11]) == ["TG002"]
    assert codes(NEW_FRAGMENTS[14]) == []
    assert codes(NEW_FRAGMENTS[17]) == ["TG003"]


def test_the_prefilter_stays_selective() -> None:
    # Star imports made files relevant; an ordinary from-import of a module above a pattern
    # must not (a first version passed every ``from http import HTTPStatus`` file on).
    protected = "app.worker.tasks.m4"
    for quiet in (
        b"from http import HTTPStatus\nclient = None\n",
        b"from urllib import parse\nrequest = parse.quote('x')\n",
        b"from concurrent.futures import ThreadPoolExecutor\npool = ThreadPoolExecutor()\n",
        b"from google.cloud import storage\nclient = storage.Client()\n",
    ):
        assert not PREFILTERS[False].needs_parse(quiet, protected, True), quiet
    for loud in (
        b"from http import *\nclient.HTTPConnection('x')\n",
        b"from concurrent.futures import *\nProcessPoolExecutor()\n",
        b"from concurrent.futures import (\n    *\n)\nProcessPoolExecutor()\n",
    ):
        assert PREFILTERS[False].needs_parse(loud, protected, True), loud
