"""The baseline module on its own: entry keys, counting, the file format, diff and match.

Violations come from the real checker run on small projects; the CLI, the reports and the
pytest plugin are tested in test_baseline_cli.py.
"""

from __future__ import annotations

import json
import pickle
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from _check_support import write_project
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import taskguard
from taskguard import _baseline as bl
from taskguard._baseline import Baseline, Entry
from taskguard._errors import BaselineError, TaskguardError

TABLE = """\
[tool.taskguard]
root-packages = ["app"]
protected = ["app.api"]
forbidden-in-protected = ["httpx", "requests"]
"""
ROUTER = "app/api/routers.py"


def keyed(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[taskguard.Violation, Entry | None]]:
    monkeypatch.chdir(root)
    result = taskguard.check(use_cache=False)
    return bl.entries_for(result.violations)


def entries(root: Path, monkeypatch: pytest.MonkeyPatch) -> list[Entry | None]:
    return [entry for _v, entry in keyed(root, monkeypatch)]


def project(tmp_path: Path, source: str, name: str = "p") -> Path:
    return write_project(tmp_path / name, {ROUTER: source}, TABLE)


# --------------------------------------------------------------------------- entry keys


def test_entries_name_code_importer_imported_and_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(
        tmp_path,
        """
        import importlib
        import httpx
        from google.cloud import tasks_v2
        def f(name):
            return importlib.import_module(name)
        """,
    )
    assert entries(root, monkeypatch) == [
        Entry("TG002", "app.api.routers", "httpx", "import httpx"),
        Entry(
            "TG001", "app.api.routers", "google.cloud.tasks_v2", "from google.cloud import tasks_v2"
        ),
        Entry("TG003", "app.api.routers", None, "importlib.import_module(name)"),
    ]


def test_line_shifts_and_reformatting_keep_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = project(
        tmp_path,
        """
        from httpx import Client, get
        import importlib
        x = importlib.import_module("requests")
        """,
        "before",
    )
    after = project(
        tmp_path,
        """
        '''A docstring added above.'''

        import os


        from httpx import (  # a comment
            Client,
            get,
        )
        import importlib
        x = importlib.import_module(
            'requests'
        )
        """,
        "after",
    )
    first = entries(before, monkeypatch)
    second = entries(after, monkeypatch)
    assert first == second
    assert None not in first


def test_a_moved_import_is_the_same_entry_and_a_second_copy_counts_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = project(tmp_path, "import httpx\n\ndef f():\n    pass\n", "a")
    moved = project(tmp_path, "def f():\n    import httpx\n", "b")
    copied = project(tmp_path, "import httpx\n\ndef f():\n    import httpx\n", "c")
    baseline = Baseline.of(e for e in entries(original, monkeypatch) if e)
    on_moved = bl.match(keyed(moved, monkeypatch), baseline)
    assert (len(on_moved.new), len(on_moved.baselined), on_moved.stale) == (0, 1, ())
    on_copied = bl.match(keyed(copied, monkeypatch), baseline)
    assert len(on_copied.baselined) == 1
    [new] = on_copied.new
    # The later occurrence in report order is the new one.
    assert (new.line, new.code) == (4, "TG002")


def test_an_import_moved_to_another_module_is_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = write_project(tmp_path / "a", {"app/api/one.py": "import httpx\n"}, TABLE)
    b = write_project(tmp_path / "b", {"app/api/two.py": "import httpx\n"}, TABLE)
    baseline = Baseline.of(e for e in entries(a, monkeypatch) if e)
    outcome = bl.match(keyed(b, monkeypatch), baseline)
    assert [v.importer for v in outcome.new] == ["app.api.two"]
    assert outcome.stale == ((Entry("TG002", "app.api.one", "httpx", "import httpx"), 1),)


def test_relative_and_nfkc_spellings_normalise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_project(
        tmp_path / "p",
        {
            "app/api/a.py": "from . import b\nimport \uff48\uff54\uff54\uff50\uff58\n",
            "app/api/b.py": "",
        },
        TABLE,
    )
    assert entries(root, monkeypatch) == [Entry("TG002", "app.api.a", "httpx", "import httpx")]


def test_columns_after_non_ascii_text_find_the_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Columns count characters, the parser's offsets count UTF-8 bytes.
    root = project(
        tmp_path, 'import importlib\nlabel = "é€😀"; m = importlib.import_module("httpx")\n'
    )
    [entry] = entries(root, monkeypatch)
    assert entry == Entry("TG002", "app.api.routers", "httpx", "importlib.import_module('httpx')")


def test_a_coding_cookie_file_is_read_as_python_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = '# -*- coding: latin-1 -*-\ns = "\xe9\xe9"; import httpx\n'.encode("latin-1")
    root = write_project(tmp_path / "p", {ROUTER: source}, TABLE)
    assert entries(root, monkeypatch) == [
        Entry("TG002", "app.api.routers", "httpx", "import httpx")
    ]


def test_references_calls_in_headers_and_statements(tmp_path: Path) -> None:
    source = textwrap.dedent(
        """\
        import builtins
        run = eval
        def f(x=__import__(name)):
            g = getattr(builtins, name)
        @decorate(__import__(name))
        class C: pass
        def g(run=eval): pass
        """
    ).encode()
    assert bl.statement_in(source, 2, 7) == "run = eval"
    assert bl.statement_in(source, 3, 9) == "__import__(name)"
    assert bl.statement_in(source, 4, 9) == "getattr(builtins, name)"
    assert bl.statement_in(source, 5, 11) == "__import__(name)"
    # The header of a compound statement, not a call: the expression that starts there.
    assert bl.statement_in(source, 7, 11) == "eval"
    assert bl.statement_in(source, 99, 1) is None
    assert bl.statement_in(b"def (:\n", 1, 1) is None


def test_codes_that_cannot_be_baselined_and_vanished_files_have_no_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_project(
        tmp_path / "p",
        {
            ROUTER: "import httpx  # taskguard: ignore[TG001] -- wrong code\n",
            "app/api/broken.py": "import httpx\ndef (:\n",
        },
        TABLE,
    )
    pairs = keyed(root, monkeypatch)
    codes = {v.code: e for v, e in pairs}
    assert set(codes) == {"TG002", "TG005", "TG900"}
    assert codes["TG005"] is None
    assert codes["TG900"] is None
    assert codes["TG002"] is not None

    def unreadable(path: str) -> bytes:
        raise FileNotFoundError(path)

    assert all(e is None for _v, e in bl.entries_for([v for v, _e in pairs], unreadable))


# --------------------------------------------------------------------------- hypothesis: keys

MODULES = st.lists(
    st.sampled_from(["httpx", "requests", "json", "os", "google.cloud.tasks_v2", "a.b.c"]),
    min_size=1,
    max_size=3,
    unique=True,
)
NAMES = st.lists(
    st.sampled_from(["Client", "get", "post", "x"]), min_size=1, max_size=3, unique=True
)


@st.composite
def import_layouts(draw: st.DrawFn) -> tuple[str, str, int]:
    """An import statement laid out two ways, and lines to put above the second."""
    if draw(st.booleans()):
        modules = draw(MODULES)
        plain = "import " + ", ".join(modules)
        sep = draw(st.sampled_from([", ", " ,  ", ",\\\n    "]))
        other = "import " + sep.join(modules)
    else:
        module = draw(st.sampled_from(["httpx", "google.cloud", ".", "..pkg"]))
        names = draw(NAMES)
        plain = f"from {module} import " + ", ".join(names)
        inner = draw(st.sampled_from([", ", ",\n    ", " , "]))
        trailing = draw(st.sampled_from(["", ",", ",\n"]))
        other = f"from  {module}  import (\n    " + inner.join(names) + trailing + ")"
    return plain, other, draw(st.integers(0, 30))


@given(import_layouts(), st.sampled_from(["", "    ", "\t"]))
def test_reformatting_and_shifting_an_import_keeps_its_statement(
    layouts: tuple[str, str, int], indent: str
) -> None:
    plain, other, shift = layouts
    wrap = "if x:\n" if indent else ""
    first = f"{wrap}{indent}{plain}\n".encode()
    padding = "".join(f"# line {i}\n" if i % 2 else "\n" for i in range(shift))
    body = other.replace("\n", "\n" + indent)
    second = f"{padding}{wrap}{indent}{body}  # trailing comment\n".encode()
    line1 = 2 if indent else 1
    line2 = shift + line1
    column = len(indent) + 1
    assert bl.statement_in(first, line1, column) == bl.statement_in(second, line2, column)
    assert bl.statement_in(first, line1, column) == plain.replace(" ,  ", ", ")


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20))
def test_a_call_is_found_behind_any_text_on_its_line(prefix: str) -> None:
    literal = json.dumps(prefix)  # a valid Python string literal of any text
    source = f"label = {literal}; m = importlib.import_module('httpx')\n"
    column = len(f"label = {literal}; m = ") + 1
    assert bl.statement_in(source.encode(), 1, column) == "importlib.import_module('httpx')"


# --------------------------------------------------------------------------- match and diff

CODE = st.sampled_from(sorted(bl.CODES))
# Any name the checker could report: module names come from file names, imported names from
# strings in import_module() calls.
NAMES_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=10
).filter(str.strip)
ENTRIES = st.builds(
    lambda code, importer, imported, statement: Entry(
        code, importer, None if code == "TG003" else imported, statement
    ),
    CODE,
    st.sampled_from(["app.a", "app.api.routers", "app.ü", "app.my-router"]) | NAMES_TEXT,
    st.sampled_from(["httpx", "requests", "google.cloud.tasks_v2", "httpx.a b"]) | NAMES_TEXT,
    st.sampled_from(["import httpx", "from x import (y)", "f('é\\n')", "run = eval"]),
)
MULTISETS = st.dictionaries(ENTRIES, st.integers(1, 4), max_size=8)


def violation_for(entry: Entry, line: int) -> taskguard.Violation:
    return taskguard.Violation(
        "app/x.py", line, 1, entry.code, entry.importer, entry.imported, "message"
    )


@given(MULTISETS, MULTISETS, st.booleans())
def test_match_counts_occurrences(
    run: dict[Entry, int], base: dict[Entry, int], whole: bool
) -> None:
    pairs = []
    line = 1
    for entry, count in run.items():
        for _ in range(count):
            pairs.append((violation_for(entry, line), entry))
            line += 1
    outcome = bl.match(pairs, Baseline(base), judge_stale=whole)
    expected_baselined = sum(min(n, base.get(e, 0)) for e, n in run.items())
    assert len(outcome.baselined) == expected_baselined
    assert len(outcome.new) == sum(run.values()) - expected_baselined
    stale = Counter(dict(outcome.stale))
    if whole:
        assert stale == Counter(base) - Counter(run)
    else:
        assert outcome.stale == ()
    # Nothing lost, nothing invented.
    assert sorted(outcome.new + outcome.baselined) == sorted(v for v, _e in pairs)


def test_unkeyed_violations_are_always_new() -> None:
    entry = Entry("TG002", "app.x", "httpx", "import httpx")
    outcome = bl.match([(violation_for(entry, 1), None)], Baseline({entry: 1}))
    assert len(outcome.new) == 1
    assert outcome.stale == ((entry, 1),)


@given(MULTISETS, MULTISETS)
def test_diff_turns_the_old_baseline_into_the_new(
    old: dict[Entry, int], new: dict[Entry, int]
) -> None:
    change = bl.diff(Baseline(old), Baseline(new))
    rebuilt = Counter(old) - Counter(dict(change.removed)) + Counter(dict(change.added))
    assert rebuilt == Counter(new)
    # An entry whose count went up is only added, one whose count went down only removed.
    assert not set(dict(change.added)) & set(dict(change.removed))
    assert bool(change) == (old != new)


def test_diff_of_a_count_change_is_one_entry() -> None:
    entry = Entry("TG002", "app.x", "httpx", "import httpx")
    change = bl.diff(Baseline({entry: 1}), Baseline({entry: 3}))
    assert change.added == ((entry, 2),)
    assert change.removed == ()


# --------------------------------------------------------------------------- the file


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(MULTISETS)
def test_dumps_loads_round_trip_is_stable(counts: dict[Entry, int]) -> None:
    baseline = Baseline(counts)
    text = bl.dumps(baseline)
    assert text.isascii()
    again = bl.loads(text, "b.json")
    assert again == baseline
    assert bl.dumps(again) == text
    # Every entry is located on its own line, for TG005.
    lines = text.splitlines()
    for entry in counts:
        row = json.loads(lines[again.lines[entry] - 1].strip().rstrip(","))
        assert (row["code"], row["importer"], row["statement"]) == (
            entry.code,
            entry.importer,
            entry.statement,
        )


def test_dumps_is_sorted_and_versioned() -> None:
    b = Entry("TG002", "app.b", "httpx", "import httpx")
    a2 = Entry("TG003", "app.a", None, "__import__(x)")
    a1 = Entry("TG002", "app.a", "requests", "import requests")
    document = json.loads(bl.dumps(Baseline({b: 1, a2: 2, a1: 1})))
    assert document["version"] == 1
    assert [(e["importer"], e["code"]) for e in document["entries"]] == [
        ("app.a", "TG002"),
        ("app.a", "TG003"),
        ("app.b", "TG002"),
    ]
    assert document["entries"][1] == {
        "code": "TG003",
        "importer": "app.a",
        "imported": None,
        "statement": "__import__(x)",
        "count": 2,
    }
    assert bl.dumps(Baseline()) == '{\n  "version": 1,\n  "entries": []\n}\n'


def test_write_then_load(tmp_path: Path) -> None:
    entry = Entry("TG002", "app.x", "httpx", "import httpx")
    target = tmp_path / "taskguard-baseline.json"
    bl.write(target, Baseline({entry: 2}))
    assert bl.load(target) == Baseline({entry: 2})
    assert [p.name for p in tmp_path.iterdir()] == ["taskguard-baseline.json"]
    with pytest.raises(BaselineError, match="cannot write"):
        bl.write(tmp_path / "missing" / "b.json", Baseline())
    with pytest.raises(BaselineError, match=r"missing\.json: cannot read"):
        bl.load(tmp_path / "missing.json")


def test_a_pretty_printed_file_loads_and_locates_entries_at_line_one() -> None:
    entry = Entry("TG002", "app.x", "httpx", "import httpx")
    text = json.dumps({"version": 1, "entries": [entry.as_json(1)]}, indent=4)
    loaded = bl.loads(text, "b.json")
    assert loaded == Baseline({entry: 1})
    [stale] = bl.stale_violations([(entry, 1)], loaded, "b.json")
    assert (stale.path, stale.line, stale.code) == ("b.json", 1, "TG005")


def test_stale_violations_name_the_entry_and_its_line() -> None:
    a = Entry("TG002", "app.a", "httpx", "import httpx")
    b = Entry("TG003", "app.b", None, "__import__(x)")
    loaded = bl.loads(bl.dumps(Baseline({a: 1, b: 3})), "base.json")
    out = bl.stale_violations([(a, 1), (b, 2)], loaded, "base.json")
    assert [(v.line, v.importer, v.imported) for v in out] == [
        (4, "app.a", "httpx"),
        (5, "app.b", None),
    ]
    assert out[0].message == (
        "baseline entry TG002 app.a -> httpx: import httpx matched nothing; remove it"
    )
    assert "(2 of its 3 occurrences)" in out[1].message
    # Removing that entry would make the one occurrence left a new violation: the fix is
    # to lower its count, and the message says so.
    assert out[1].message.endswith("matched nothing; lower its count to 1")


GOOD_ENTRY = {
    "code": "TG002",
    "importer": "app.x",
    "imported": "httpx",
    "statement": "import httpx",
    "count": 1,
}


def document(*entries: object, version: object = 1) -> str:
    return json.dumps({"version": version, "entries": list(entries)})


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        ("", "", "not valid JSON"),
        ("{", "", "not valid JSON"),
        ("[1, 2]", "", "expected a JSON object, got a list"),
        ('"x"', "", "expected a JSON object, got a string"),
        ('{"entries": []}', "version", "not a taskguard baseline"),
        ('{"version": "1", "entries": []}', "version", "expected an integer"),
        ('{"version": true, "entries": []}', "version", "expected an integer, got a boolean"),
        ('{"version": 2, "entries": []}', "version", "version 2 is not supported"),
        ('{"version": 1}', "entries", "missing"),
        ('{"version": 1, "entries": {}}', "entries", "expected a list"),
        ('{"version": 1, "entries": [], "extra": 1}', "extra", "unknown key"),
        ('{"version": 1, "version": 1, "entries": []}', "", "duplicate key 'version'"),
        ('{"version": 1, "entries": [NaN]}', "", "NaN is not valid JSON"),
        ("[" * 100_000, "", "not valid JSON"),
        (document(3), "entries[0]", "expected an object, got a number"),
        (document({**GOOD_ENTRY, "line": 3}), "entries[0].line", "unknown key"),
        (
            document({k: v for k, v in GOOD_ENTRY.items() if k != "count"}),
            "entries[0].count",
            "missing",
        ),
        (document({**GOOD_ENTRY, "code": "TG900"}), "entries[0].code", "never baselined"),
        (document({**GOOD_ENTRY, "code": "TG005"}), "entries[0].code", "never baselined"),
        (document({**GOOD_ENTRY, "code": "TG999"}), "entries[0].code", "not a rule code"),
        (document({**GOOD_ENTRY, "code": 2}), "entries[0].code", "expected a string"),
        (document({**GOOD_ENTRY, "importer": ""}), "entries[0].importer", "expected a module name"),
        (
            document({**GOOD_ENTRY, "imported": None}),
            "entries[0].imported",
            "expected a module name",
        ),
        (
            document({**GOOD_ENTRY, "code": "TG003", "imported": "httpx"}),
            "entries[0].imported",
            "expected null for TG003",
        ),
        (
            document({**GOOD_ENTRY, "statement": "import (httpx"}),
            "entries[0].statement",
            "not a Python",
        ),
        (document({**GOOD_ENTRY, "statement": "  "}), "entries[0].statement", "non-empty"),
        (
            document({**GOOD_ENTRY, "statement": ["import httpx"]}),
            "entries[0].statement",
            "non-empty",
        ),
        (document({**GOOD_ENTRY, "count": 0}), "entries[0].count", "positive integer"),
        (document({**GOOD_ENTRY, "count": True}), "entries[0].count", "positive integer"),
        (document({**GOOD_ENTRY, "count": 1.0}), "entries[0].count", "positive integer"),
        (document({**GOOD_ENTRY, "count": "1"}), "entries[0].count", "positive integer"),
        (document(GOOD_ENTRY, dict(GOOD_ENTRY)), "entries[1]", "duplicate of entries[0]"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(text: str, where: str, fragment: str) -> None:
    with pytest.raises(BaselineError) as info:
        bl.loads(text, "conf/taskguard-baseline.json")
    error = info.value
    assert isinstance(error, TaskguardError)
    assert isinstance(error, ValueError)
    assert error.path == "conf/taskguard-baseline.json"
    assert any(w == where and fragment in message for w, message in error.problems), error.problems
    assert str(error).startswith("invalid baseline conf/taskguard-baseline.json")
    assert fragment in str(error)


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = document({**GOOD_ENTRY, "count": 0}, {**GOOD_ENTRY, "code": "TG9", "importer": 1})
    with pytest.raises(BaselineError) as info:
        bl.loads(text, "b.json")
    assert [w for w, _m in info.value.problems] == [
        "entries[0].count",
        "entries[1].code",
        "entries[1].importer",
    ]


def test_bytes_are_utf8_with_an_optional_bom() -> None:
    text = document(GOOD_ENTRY)
    assert len(bl.loads(b"\xef\xbb\xbf" + text.encode(), "b.json")) == 1
    with pytest.raises(BaselineError, match="not UTF-8"):
        bl.loads(b"\xff" + text.encode(), "b.json")


def test_baseline_error_pickles() -> None:
    error = BaselineError("b.json", [("entries[0].count", "expected a positive integer, got 0")])
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.problems, str(copy)) == (error.path, error.problems, str(error))


def outcome(data: str | bytes) -> tuple[Baseline | None, BaselineError | None]:
    """What loading ``data`` gives: a baseline, or the BaselineError (anything else fails)."""
    try:
        return bl.loads(data, "b.json"), None
    except BaselineError as error:
        return None, error


@settings(max_examples=300)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from([*bl._ENTRY_KEYS, "version", "entries", "x"]), inner, max_size=6
            )
        ),
        max_leaves=20,
    )
)
def test_any_json_either_loads_or_is_a_baseline_error(value: object) -> None:
    for candidate in (value, {"version": 1, "entries": value}, {"version": 1, "entries": [value]}):
        loaded, error = outcome(json.dumps(candidate))
        if error is not None:
            assert error.problems
        else:
            # What loads is a faithful baseline: written back, it loads to the same thing.
            assert loaded is not None
            assert bl.loads(bl.dumps(loaded), "b.json") == loaded


@given(st.binary(max_size=64))
def test_any_bytes_either_load_or_are_a_baseline_error(data: bytes) -> None:
    loaded, error = outcome(data)
    if error is not None:
        assert error.problems
        assert str(error).startswith("invalid baseline b.json")
    else:
        assert loaded is not None
        assert bl.loads(bl.dumps(loaded), "b.json") == loaded


def test_baseline_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="positive int"):
        Baseline({Entry("TG002", "app.x", "httpx", "import httpx"): 0})


def test_judges_whole_project(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    assert bl.judges_whole_project(None, tmp_path)
    assert bl.judges_whole_project([tmp_path], tmp_path)
    assert bl.judges_whole_project([tmp_path.parent], tmp_path)
    assert not bl.judges_whole_project([tmp_path / "app"], tmp_path)


def test_indirect_violations_are_keyed_on_the_first_hop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_project(
        tmp_path / "p",
        {
            "app/api/routers.py": "from app.helpers import (\n    fetch,\n)\n",
            "app/helpers.py": "import httpx\n\ndef fetch():\n    pass\n",
        },
        TABLE + "indirect = true\n",
    )
    assert entries(root, monkeypatch) == [
        Entry("TG004", "app.api.routers", "httpx", "from app.helpers import fetch")
    ]
