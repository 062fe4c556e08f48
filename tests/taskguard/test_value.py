"""taskguard._value: the record classes' repr, == and hash are, to the letter, the ones
``@dataclass`` would generate (they are written once to spare the compile at import)."""

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
from taskguard._rules import Rule
from taskguard._value import Value
from taskguard._verdict import Verdict

small = st.text(alphabet="ab.", max_size=3)
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
    )
    made.__qualname__ = cls.__qualname__
    return made


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
    assert found == set(KWARGS)
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
    with pytest.raises(TypeError):
        ours[0] < ours[1]  # noqa: B015 - unordered, as generated: comparing is the test
    for op in (operator.eq, operator.ne):
        assert op(*ours) is op(*theirs), op
    # another class never compares equal: the twin, or a subclass, with the same values
    assert ours[0].__eq__(theirs[0]) is NotImplemented
    assert ours[0] != theirs[0]
    sub = type(cls.__name__, (cls,), {})(**a)
    assert ours[0].__eq__(sub) is NotImplemented
    assert (ours[0] == sub) is (theirs[0] == type(cls.__name__, (reference,), {})(**a)) is False
    assert pickle.loads(pickle.dumps(ours[0])) == ours[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ours[0].code = "x"  # type: ignore[attr-defined]
