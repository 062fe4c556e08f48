"""The policy: loading and validating [tool.taskguard], and the one pure decision."""

from __future__ import annotations

import dataclasses
import importlib.util
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskguard import AllowEntry, Policy, PolicyError, decide, load_policy
from taskguard._policy import (
    DEFAULT_FORBIDDEN,
    DEFAULT_PROTECTED,
    DEFAULT_SANCTIONED,
    discover_root_packages,
    distribution_packages,
    exclude_matcher,
    is_excluded,
    matches,
    pattern_problem,
    resolve_relative,
)

# Short names from a small alphabet, so that prefixes, repeats and near misses are common.
segment = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from("abtx"),
    st.text(alphabet="abtx_1", max_size=4),
)
module = st.lists(segment, min_size=1, max_size=5).map(".".join)


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    return tmp_path


# --------------------------------------------------------------------------- patterns


@settings(max_examples=100)
@given(module, st.lists(segment, max_size=3))
def test_a_pattern_matches_the_module_and_every_submodule(name: str, below: list[str]) -> None:
    assert matches(name, ".".join([name, *below]))


@settings(max_examples=100)
@given(module, segment, st.lists(segment, max_size=2))
def test_a_pattern_never_matches_a_sibling_with_a_longer_name(
    name: str, extra: str, below: list[str]
) -> None:
    # app.worker.tasks never matches app.worker.taskset nor app.worker.tasks_helpers
    for sibling in (name + extra, name + "_" + extra):
        assert not matches(name, ".".join([sibling, *below]))


def test_segment_boundaries_from_the_issue() -> None:
    assert matches("app.worker.tasks", "app.worker.tasks")
    assert matches("app.worker.tasks", "app.worker.tasks.transcribe")
    assert not matches("app.worker.tasks", "app.worker.taskset")
    assert not matches("app.worker.tasks", "app.worker.tasks_helpers")
    assert not matches("app.worker.tasks", "app.worker")


@settings(max_examples=100)
@given(st.lists(segment, max_size=3), module)
def test_double_star_matches_any_number_of_leading_segments(prefix: list[str], name: str) -> None:
    assert matches(f"**.{name}", ".".join([*prefix, name]))


@settings(max_examples=100)
@given(segment, module, st.lists(segment, min_size=2, max_size=3))
def test_single_star_is_exactly_one_segment(first: str, name: str, many: list[str]) -> None:
    assert matches(f"*.{name}", f"{first}.{name}")
    assert not matches(f"*.{name}", name)
    # With more than one leading segment, "*" takes the first and the rest must be ``name``
    # itself or one of its submodules.
    rest = ".".join([*many[1:], name])
    expected = rest == name or rest.startswith(name + ".")
    assert matches(f"*.{name}", ".".join([*many, name])) is expected


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("app", None),
        ("**.api.routers", None),
        ("concurrent.futures.ProcessPoolExecutor", None),
        ("", "empty pattern"),
        ("*", "at least one literal segment"),
        ("**.*", "at least one literal segment"),
        ("app..x", "segment ''"),
        ("app.worker-tasks", "segment 'worker-tasks'"),
        (3, "expected a string"),
    ],
)
def test_pattern_validation(pattern: object, problem: str | None) -> None:
    found = pattern_problem(pattern)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


# --------------------------------------------------------------------------- decide


def policy_for(**overrides: object) -> Policy:
    return Policy(root_packages=("app",), **overrides)  # type: ignore[arg-type]


@settings(max_examples=100)
@given(module, module)
def test_decide_follows_the_definition(importer: str, imported: str) -> None:
    policy = policy_for(protected=("app.api",), forbidden_in_protected=("httpx", "requests"))
    verdict = decide(policy, importer, imported)
    dispatch = policy.is_dispatch_module(imported)
    if dispatch and not policy.is_sanctioned(importer):
        assert verdict is not None
        assert verdict.code == "TG001"
    elif policy.is_protected(importer) and policy.is_forbidden_in_protected(imported):
        assert verdict is not None
        assert verdict.code == "TG002"
    else:
        assert verdict is None
    # Pure: asking again (now memoised) gives the same answer.
    assert decide(policy, importer, imported) == verdict


def test_decide_dispatch_and_forbidden_rules() -> None:
    policy = policy_for(
        sanctioned=("app.infrastructure.tasks_client",),
        protected=("app.api.routers",),
    )
    tg001 = decide(policy, "app.api.routers.x", "google.cloud.tasks_v2")
    assert tg001 is not None
    assert tg001.code == "TG001"
    assert "app.infrastructure.tasks_client" in tg001.message
    assert decide(policy, "app.infrastructure.tasks_client", "google.cloud.tasks_v2") is None
    assert decide(policy, "app.api.routers.x", "google.cloud.storage") is None
    tg002 = decide(policy, "app.api.routers.x", "httpx._client")
    assert tg002 is not None
    assert (tg002.code, tg002.pattern, tg002.rule_pattern) == ("TG002", "httpx", "app.api.routers")
    assert decide(policy, "app.domain.x", "httpx") is None
    assert decide(policy, "app.api.routers.x", "concurrent.futures") is None
    member = decide(policy, "app.api.routers.x", "concurrent.futures.ProcessPoolExecutor")
    assert member is not None
    assert member.code == "TG002"
    assert decide(policy, "app.api.routers.x", "concurrent.futures.ThreadPoolExecutor") is None


def test_allow_entries_excuse_but_are_reported_as_used() -> None:
    entry = AllowEntry("app.api.routers.health", "httpx", "health probe")
    policy = policy_for(protected=("app.api.routers",), allow=(entry,))
    verdict = decide(policy, "app.api.routers.health", "httpx")
    assert verdict is not None
    assert verdict.allowed
    assert verdict.allowed_by == entry
    assert not policy.is_forbidden("app.api.routers.health", "httpx")
    assert policy.is_forbidden("app.api.routers.other", "httpx")


def test_defaults_follow_the_seed() -> None:
    policy = Policy()
    assert policy.sanctioned == DEFAULT_SANCTIONED
    assert policy.protected == DEFAULT_PROTECTED
    assert policy.forbidden_in_protected == DEFAULT_FORBIDDEN
    assert policy.is_protected("svc.api.routers.episodes")
    assert policy.is_protected("svc.worker.tasks")
    assert policy.is_sanctioned("svc.infrastructure.tasks_client")
    assert policy.is_sanctioned("dispatch._tasks_client")


def test_policy_pickles_with_its_decisions() -> None:
    policy = policy_for(protected=("app.api",), allow=(AllowEntry("app.api.x", "httpx", "r"),))
    decide(policy, "app.api.y", "httpx")
    copy = pickle.loads(pickle.dumps(policy))
    assert copy == policy
    assert decide(copy, "app.api.y", "httpx") == decide(policy, "app.api.y", "httpx")


# --------------------------------------------------------------------------- relative imports


@settings(max_examples=150)
@given(
    st.lists(segment, min_size=1, max_size=4).map(".".join),
    st.integers(min_value=1, max_value=5),
    st.one_of(st.just(""), module),
)
def test_resolve_relative_agrees_with_importlib(package: str, level: int, name: str) -> None:
    try:
        expected: str | None = importlib.util.resolve_name("." * level + name, package)
    except ImportError:
        expected = None
    try:
        got: str | None = resolve_relative(name, package, level)
    except ImportError:
        got = None
    assert got == expected


# --------------------------------------------------------------------------- loading


def test_no_table_means_defaults_and_discovered_roots(tmp_path: Path) -> None:
    write(tmp_path, '[project]\nname = "x"\n')
    for rel in ("app/__init__.py", "src/svc/__init__.py", "nsp/mod/x.py", "tests/test_x.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("", encoding="utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "conf.py").write_text("", encoding="utf-8")
    policy = load_policy(tmp_path)
    assert policy.root_packages == ("app", "nsp", "svc")
    assert policy.protected == DEFAULT_PROTECTED
    assert policy.project_root == tmp_path.resolve()


def test_discovery_respects_exclude(tmp_path: Path) -> None:
    for rel in ("app/__init__.py", "generated/__init__.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("", encoding="utf-8")
    assert discover_root_packages(tmp_path, ["generated/**"]) == ("app",)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
[tool.taskguard]
root-package = ["app"]
protected = "app.api"
sanctioned = ["app..x"]
mode = "loud"
indirect = "yes"
type-checking = "maybe"
dispatch-distributions = ["no-such-distribution-for-taskguard"]

[[tool.taskguard.allow]]
importer = "app.api.health"
imported = "httpx"

[[tool.taskguard.allow]]
importer = "app.api.x"
imported = "requests"
reason = "fine"
colour = "blue"
""",
    )
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path)
    keys = sorted(key for key, _ in info.value.problems)
    assert keys == sorted(
        [
            "root-package",
            "protected",
            "sanctioned[0]",
            "mode",
            "type-checking",
            "indirect",
            "allow[0].reason",
            "allow[1].colour",
            "dispatch-distributions[0]",
        ]
    )
    text = str(info.value)
    assert "did you mean 'root-packages'" in text
    assert "say why" in text
    assert "not installed" in text
    assert info.value.source == str(tmp_path / "pyproject.toml")
    copy = pickle.loads(pickle.dumps(info.value))
    assert copy.problems == info.value.problems


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("protectd", "did you mean 'protected'?"),
        ("forbidden_in_protected", "did you mean 'forbidden-in-protected'?"),
        # shortened keys are too far from the full name for a plain close match
        ("forbidden", "did you mean 'forbidden-in-protected'?"),
        ("forbiden", "did you mean 'forbidden-in-protected'?"),
        ("root", "did you mean 'root-packages'?"),
        ("zzz", None),
    ],
)
def test_unknown_key_suggestion(tmp_path: Path, key: str, hint: str | None) -> None:
    write(tmp_path, f'[tool.taskguard]\n{key} = ["httpx"]\n')
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path)
    [(name, message)] = info.value.problems
    assert name == key
    if hint is None:
        assert message == "unknown key"
    else:
        assert message == f"unknown key; {hint}"


def test_invalid_toml_and_missing_config(tmp_path: Path) -> None:
    write(tmp_path, "[tool.taskguard\n")
    with pytest.raises(PolicyError, match="invalid TOML"):
        load_policy(tmp_path)
    with pytest.raises(PolicyError, match="no such file"):
        load_policy(tmp_path, config=tmp_path / "missing.toml")
    other = tmp_path / "other.toml"
    other.write_text("[tool.other]\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"no \[tool.taskguard\] table"):
        load_policy(tmp_path, config=other)


def test_config_file_overrides_discovery(tmp_path: Path) -> None:
    write(tmp_path, '[tool.taskguard]\nroot-packages = ["app"]\n')
    config = tmp_path / "strict.toml"
    config.write_text('[tool.taskguard]\nroot-packages = ["svc"]\nindirect = true\n', "utf-8")
    policy = load_policy(tmp_path, config=config)
    assert policy.root_packages == ("svc",)
    assert policy.indirect is True
    assert policy.source == config.resolve()


def test_dispatch_distribution_resolves_to_its_import_packages() -> None:
    provided = distribution_packages("google-cloud-tasks")
    assert "google.cloud.tasks_v2" in provided
    assert "google.cloud.tasks" in provided
    assert "google" not in provided
    assert "google.cloud" not in provided


def test_legacy_namespace_init_is_not_claimed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A distribution shipping a pkg_resources-style namespace __init__ must not claim the
    # whole namespace (regression: it made every google.* module a dispatch module).
    site = tmp_path / "site"
    (site / "fakens" / "queue").mkdir(parents=True)
    (site / "fakens" / "__init__.py").write_text(
        "__import__('pkg_resources').declare_namespace(__name__)\n", encoding="utf-8"
    )
    (site / "fakens" / "queue" / "__init__.py").write_text("", encoding="utf-8")
    info = site / "fakequeue-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakequeue\nVersion: 1.0\n")
    (info / "RECORD").write_text(
        "fakens/__init__.py,,\nfakens/queue/__init__.py,,\nfakequeue-1.0.dist-info/METADATA,,\n"
    )
    monkeypatch.syspath_prepend(str(site))
    assert distribution_packages("fakequeue") == ("fakens.queue",)
    write(
        tmp_path,
        '[tool.taskguard]\nroot-packages = ["app"]\ndispatch-distributions = ["fakequeue"]\n',
    )
    policy = load_policy(tmp_path)
    assert policy.is_dispatch_module("fakens.queue.client")
    assert not policy.is_dispatch_module("fakens.other")


@pytest.mark.parametrize(
    ("rel", "globs", "expected"),
    [
        (".venv/lib/x.py", [".venv/**"], True),
        ("build", ["build/**"], True),
        ("app/legacy_vendor/x.py", ["*/legacy_vendor/**"], True),
        ("app/legacy_vendored.py", ["*/legacy_vendor/**"], False),
        ("app/gen_pb2.py", ["**/*_pb2.py", "*_pb2.py"], True),
        ("app/x.py", [], False),
    ],
)
def test_exclude_globs(rel: str, globs: list[str], expected: bool) -> None:
    assert is_excluded(rel, globs) is expected
    assert exclude_matcher(globs)(rel, True) is expected


def test_policy_is_a_frozen_dataclass_that_replace_revalidates() -> None:
    policy = policy_for(protected=("app.api",))
    assert dataclasses.is_dataclass(policy)
    # the compiled patterns and the memo are not fields
    assert [f.name for f in dataclasses.fields(policy)] == [
        "root_packages",
        "sanctioned",
        "dispatch_modules",
        "dispatch_distributions",
        "protected",
        "forbidden_in_protected",
        "type_checking",
        "exclude",
        "mode",
        "allow",
        "indirect",
        "baseline",
        "project_root",
        "source",
    ]
    assert policy.is_forbidden("app.api.x", "httpx")
    warn = dataclasses.replace(policy, mode="warn", protected=("app.worker",))
    assert warn.mode == "warn"
    # the copy decides with its own patterns, not the original's memo
    assert not warn.is_forbidden("app.api.x", "httpx")
    assert warn.is_forbidden("app.worker.x", "httpx")
    assert policy.is_forbidden("app.api.x", "httpx")
    with pytest.raises(PolicyError) as info:
        dataclasses.replace(policy, protected=("app..api",))
    assert [key for key, _ in info.value.problems] == ["protected"]
    copy = pickle.loads(pickle.dumps(warn))
    assert copy == warn
    assert copy.is_forbidden("app.worker.x", "httpx")
    assert "_cache" not in repr(policy)
    assert "PatternSet" not in repr(policy)


def test_policy_values_are_immutable_and_compare_by_value() -> None:
    entry = AllowEntry("app.x", "httpx", "reason")
    policy = policy_for(allow=(entry,))
    with pytest.raises(dataclasses.FrozenInstanceError, match="mode"):
        policy.mode = "warn"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError, match="reason"):
        entry.reason = "other"  # type: ignore[misc]
    assert policy == policy_for(allow=(AllowEntry("app.x", "httpx", "reason"),))
    assert policy != policy_for()
    assert {entry: 1}[AllowEntry("app.x", "httpx", "reason")] == 1
    assert hash(policy) == hash(policy_for(allow=(entry,)))
    assert repr(entry) == "AllowEntry(importer='app.x', imported='httpx', reason='reason')"
    assert "root_packages=('app',)" in repr(policy)
    verdict = decide(policy_for(protected=("app",)), "app.x", "httpx")
    assert verdict is not None
    assert pickle.loads(pickle.dumps(verdict)) == verdict
    assert not verdict.allowed
