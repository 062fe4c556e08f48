"""Rule and Violation: frozen dataclasses that order, hash, pickle and match by their fields."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskguard import RULES, Rule, Violation
from taskguard._static.records import FAILED, Finding, Record

FIELDS = ("path", "line", "column", "code", "importer", "imported", "message", "chain")

texts = st.sampled_from(["", "a", "b", "app/x.py", "app/y.py", "TG002", "TG003", "é"])
numbers = st.integers(min_value=0, max_value=3)
chains = st.lists(texts, max_size=2).map(tuple)
violations = st.builds(Violation, texts, numbers, numbers, texts, texts, texts, texts, chains)


@settings(max_examples=300, deadline=None)
@given(violations, violations)
def test_violations_order_and_compare_by_their_fields_in_order(a: Violation, b: Violation) -> None:
    key_a = tuple(getattr(a, name) for name in FIELDS)
    key_b = tuple(getattr(b, name) for name in FIELDS)
    assert (a < b) == (key_a < key_b)
    assert (a <= b) == (key_a <= key_b)
    assert (a == b) == (key_a == key_b)
    if a == b:
        assert hash(a) == hash(b)
    assert a._asdict() == dataclasses.asdict(a)
    assert list(a._asdict()) == list(FIELDS)


def test_violation_is_a_frozen_dataclass_with_keywords_defaults_and_pattern_matching() -> None:
    v = Violation(
        path="a.py", line=3, column=1, code="TG002", importer="app.a", imported="httpx", message="m"
    )
    assert dataclasses.is_dataclass(v)
    assert [f.name for f in dataclasses.fields(v)] == list(FIELDS)
    assert v.chain == ()
    assert v == Violation("a.py", 3, 1, "TG002", "app.a", "httpx", "m", ())
    assert dataclasses.replace(v, line=4).line == 4
    match v:
        case Violation(path, line, _column, code):
            assert (path, line, code) == ("a.py", 3, "TG002")
        case _:  # pragma: no cover - the case above must match
            pytest.fail("Violation does not match positionally")
    with pytest.raises(TypeError):
        Violation("a.py", 3, 1, "TG002", "app.a", "httpx")  # type: ignore[call-arg]
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.line = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del v.line
    with pytest.raises(dataclasses.FrozenInstanceError):
        RULES["TG002"].code = "TG999"  # type: ignore[misc]
    assert v.line == 3
    assert RULES["TG002"].code == "TG002"


def test_violation_and_rule_pickle_copy_and_sort() -> None:
    a = Violation("b.py", 1, 1, "TG002", "app.b", "httpx", "m", ("app.b", "app.c"))
    b = Violation("a.py", 9, 1, "TG005", "app.a", None, "m")
    for value in (a, b, RULES["TG900"]):
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            again = pickle.loads(pickle.dumps(value, protocol))
            assert again == value
            assert type(again) is type(value)
            assert hash(again) == hash(value)
        assert copy.copy(value) == value
        assert copy.deepcopy(value) == value
    assert sorted([a, b]) == [b, a]
    assert {a, b, copy.copy(a)} == {a, b}
    with pytest.raises(TypeError):
        _ = a < RULES["TG002"]  # type: ignore[operator]


@pytest.mark.parametrize("code", sorted(RULES))
def test_rules_are_values_keyed_by_their_code(code: str) -> None:
    rule = RULES[code]
    assert isinstance(rule, Rule)
    assert rule.code == code
    assert repr(rule).startswith(f"Rule(code={code!r}, name={rule.name!r}")
    assert rule == Rule(rule.code, rule.name, rule.summary, rule.template)
    assert rule != Rule(rule.code, rule.name, rule.summary, rule.template + ".")
    assert hash(rule) == hash(Rule(rule.code, rule.name, rule.summary, rule.template))


@pytest.mark.parametrize(
    ("message", "passing"),
    [
        ("could not read app/m.py: Too many open files", True),
        ("could not read app/m.py: out of memory while reading it", True),
        ("could not analyse app/m.py: the process analysing it died (SIGKILL)", True),
        ("could not parse app/m.py: invalid syntax (line 2)", False),
    ],
)
def test_only_a_lasting_failure_is_kept_in_the_cache(message: str, passing: bool) -> None:
    # A file that could not be read (too many open files, memory, an I/O error) or analysed
    # may be fine on the next run: its record is not stored, so the next run tries again. A
    # file that does not parse fails the same way until its bytes (and stamps) change.
    finding = Finding(1, 1, 1, "TG900", None, message, -1, ())
    assert Record(FAILED, (finding,), (), None).analysis_failed() is passing
