"""Rule and Violation behave exactly like the frozen dataclasses they replace.

They are hand-written so that ``taskguard check`` does not import ``dataclasses`` (and
``inspect``) on every run; the reference below is the dataclass they used to be.
"""

from __future__ import annotations

import copy
import operator
import pickle
from collections.abc import Callable
from dataclasses import FrozenInstanceError, asdict, dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskguard import RULES, Rule, Violation


@dataclass(frozen=True, order=True)
class ReferenceViolation:
    path: str
    line: int
    column: int
    code: str
    importer: str | None
    imported: str | None
    message: str
    chain: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReferenceRule:
    code: str
    name: str
    summary: str
    template: str


texts = st.sampled_from(["", "a", "b", "app/x.py", "app/y.py", "TG002", "TG003", "é"])
maybe = st.none() | texts
numbers = st.integers(min_value=0, max_value=3)
chains = st.lists(texts, max_size=2).map(tuple)
fields = st.tuples(texts, numbers, numbers, texts, maybe, maybe, texts, chains)


def both(values: tuple[object, ...]) -> tuple[Violation, ReferenceViolation]:
    return Violation(*values), ReferenceViolation(*values)  # type: ignore[arg-type]


def outcome(compare: Callable[[object, object], object], a: object, b: object) -> object:
    """The result of a comparison, or the type of what it raised (None vs str: TypeError)."""
    try:
        return compare(a, b)
    except TypeError as exc:
        return type(exc)


@settings(max_examples=300, deadline=None)
@given(fields, fields)
def test_violation_compares_orders_and_hashes_like_the_dataclass(
    a: tuple[object, ...], b: tuple[object, ...]
) -> None:
    (va, ra), (vb, rb) = both(a), both(b)
    for compare in (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge):
        assert outcome(compare, va, vb) == outcome(compare, ra, rb)
    if va == vb:
        assert hash(va) == hash(vb)
    assert repr(va) == repr(ra).replace("ReferenceViolation(", "Violation(", 1)
    assert va._asdict() == asdict(ra)
    assert list(va._asdict()) == list(asdict(ra))


def test_violation_keywords_defaults_and_pattern_matching() -> None:
    v = Violation(
        path="a.py", line=3, column=1, code="TG002", importer="app.a", imported="httpx", message="m"
    )
    assert v.chain == ()
    assert v == Violation("a.py", 3, 1, "TG002", "app.a", "httpx", "m", ())
    match v:
        case Violation(path, line, _column, code):
            assert (path, line, code) == ("a.py", 3, "TG002")
        case _:  # pragma: no cover - the case above must match
            pytest.fail("Violation does not match positionally")
    with pytest.raises(TypeError):
        Violation("a.py", 3, 1, "TG002", "app.a", "httpx")  # type: ignore[call-arg]


def test_violation_and_rule_are_immutable_like_frozen_dataclasses() -> None:
    v = Violation("a.py", 3, 1, "TG002", "app.a", "httpx", "m")
    rule = RULES["TG002"]
    for value, reference in ((v, ReferenceViolation("a.py", 3, 1, "TG002", "a", "b", "m")),):
        with pytest.raises(FrozenInstanceError):
            reference.line = 4  # type: ignore[misc]
        # AttributeError, as FrozenInstanceError is: code that caught it keeps working.
        with pytest.raises(AttributeError):
            value.line = 4  # type: ignore[misc]
        with pytest.raises(AttributeError):
            del value.line
        with pytest.raises(AttributeError):
            value.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        rule.code = "TG999"  # type: ignore[misc]
    assert v.line == 3
    assert rule.code == "TG002"


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
        _ = a < ReferenceViolation(*a._values())  # type: ignore[operator]
    assert a != ReferenceViolation(*a._values())


@pytest.mark.parametrize("code", sorted(RULES))
def test_rule_is_the_dataclass_it_was(code: str) -> None:
    rule = RULES[code]
    reference = ReferenceRule(rule.code, rule.name, rule.summary, rule.template)
    assert isinstance(rule, Rule)
    assert repr(rule) == repr(reference).replace("ReferenceRule(", "Rule(", 1)
    assert rule == Rule(rule.code, rule.name, rule.summary, rule.template)
    assert rule != Rule(rule.code, rule.name, rule.summary, rule.template + ".")
    assert hash(rule) == hash(Rule(rule.code, rule.name, rule.summary, rule.template))
    assert rule._asdict() == asdict(reference)
