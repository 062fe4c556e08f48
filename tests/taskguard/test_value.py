"""The record classes' repr, == and hash (and Violation's ordering) are, to the letter, the
ones ``@dataclass`` would generate: ``taskguard._value`` and ``Violation`` write them once to
spare the compile at every import."""

from __future__ import annotations

import dataclasses
import operator
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import taskguard
from taskguard._allow import AllowEntry
from taskguard._policy import Policy
from taskguard._rules import Rule, Violation
from taskguard._value import Value
from taskguard._verdict import Verdict

small = st.text(alphabet="ab.", max_size=3)
maybe = st.none() | small
module = st.lists(st.sampled_from(["a", "b", "app"]), min_size=1, max_size=3).map(".".join)
KWARGS: dict[type, st.SearchStrategy[dict[str, Any]]] = {
    Rule: st.fixed_dictionaries(
        {"code": small, "name": small, "summary": small, "template": small}
    ),
    AllowEntry: st.fixed_dictionaries({"importer": small, "imported": small, "reason": small}),
    Verdict: st.fixed_dictionaries(
        {
            "code": small,
            "importer": small,
            "imported": small,
            "pattern": small,
            "rule_pattern": small,
            "allowed_by": st.none() | st.builds(AllowEntry, small, small, small),
        }
    ),
    # not a Value (its own methods, for speed), ordered: pinned here all the same
    Violation: st.fixed_dictionaries(
        {
            "path": small,
            "line": st.integers(0, 2),
            "column": st.integers(0, 1),
            "code": small,
            "importer": maybe,
            "imported": maybe,
            "message": small,
            "chain": st.lists(small, max_size=2).map(tuple),
        }
    ),
    Policy: st.fixed_dictionaries(
        {
            "root_packages": st.lists(module, max_size=2).map(tuple),
            "protected": st.lists(module, max_size=2).map(tuple),
            "mode": st.sampled_from(["error", "warn"]),
            "indirect": st.booleans(),
            "allow": st.lists(st.builds(AllowEntry, module, module, small), max_size=1).map(tuple),
        }
    ),
}


def twin(cls: type) -> type:
    """``cls``'s fields in a class whose methods ``@dataclass`` generates."""
    made = dataclasses.make_dataclass(
        cls.__name__,
        [(f.name, f.type, dataclasses.field(default=f.default)) for f in dataclasses.fields(cls)],
        frozen=True,
        order=cls is Violation,
    )
    made.__qualname__ = cls.__qualname__
    return made


def outcome(op: Any, x: object, y: object) -> object:
    try:
        return op(x, y)
    except TypeError:  # None against a string: in both or in neither
        return TypeError


def test_every_value_class_is_pinned_here() -> None:
    for name in taskguard.__all__:
        getattr(taskguard, name)  # load every module that defines one
    found: set[type] = set()
    todo = [Value]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("taskguard."):
                found.add(sub)
    assert found == set(KWARGS) - {Violation}
    for cls in found:
        assert dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", list(KWARGS), ids=lambda cls: cls.__name__)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_the_methods_are_the_generated_ones(cls: type, data: st.DataObject) -> None:
    reference = twin(cls)
    a, b = data.draw(KWARGS[cls]), data.draw(KWARGS[cls])
    if data.draw(st.booleans()):
        b = dict(a)  # equal values are rare in draws: make them common
    ours, theirs = (cls(**a), cls(**b)), (reference(**a), reference(**b))
    assert repr(ours[0]) == repr(theirs[0])
    assert hash(ours[0]) == hash(theirs[0])
    compare = [operator.eq, operator.ne]
    if cls is Violation:
        compare += [operator.lt, operator.le, operator.gt, operator.ge]
    else:
        with pytest.raises(TypeError):
            ours[0] < ours[1]  # noqa: B015 - unordered, as generated: comparing is the test
    for op in compare:
        assert outcome(op, *ours) == outcome(op, *theirs), op
    # another class never compares equal: the twin, or a subclass, with the same values
    assert ours[0].__eq__(theirs[0]) is NotImplemented
    assert ours[0] != theirs[0]
    sub = type(cls.__name__, (cls,), {})(**a)
    assert ours[0].__eq__(sub) is NotImplemented
    assert (ours[0] == sub) is (theirs[0] == type(cls.__name__, (reference,), {})(**a)) is False
    assert pickle.loads(pickle.dumps(ours[0])) == ours[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ours[0].code = "x"  # type: ignore[attr-defined]


def test_violations_sort_as_the_generated_ordering_would() -> None:
    rows = [
        ("b.py", 1, 1, "TG002", "app.x", "httpx", "m", ()),
        ("a.py", 3, 1, "TG001", None, None, "m", ()),
        ("a.py", 3, 1, "TG002", "app.y", "google.cloud.tasks", "m", ("x",)),
        ("a.py", 3, 1, "TG002", "app.y", "google.cloud.tasks", "m", ()),
        ("a.py", 2, 5, "TG900", None, None, "m", ()),
    ]
    reference = twin(Violation)
    assert [dataclasses.astuple(v) for v in sorted(Violation(*r) for r in rows)] == [
        dataclasses.astuple(v) for v in sorted(reference(*r) for r in rows)
    ]
