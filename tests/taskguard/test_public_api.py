import taskguard


def test_all_is_sorted_and_complete() -> None:
    assert taskguard.__all__ == sorted(taskguard.__all__)
    for name in taskguard.__all__:
        assert hasattr(taskguard, name), name


def test_all_is_pinned() -> None:
    # The public surface, exactly: adding or removing a name is a decision, not an accident.
    assert taskguard.__all__ == [
        "AllowEntry",
        "CheckResult",
        "ForbiddenImportError",
        "Guard",
        "Policy",
        "PolicyError",
        "RULES",
        "Rule",
        "RuleSelectionError",
        "TaskguardError",
        "UnguardedModuleWarning",
        "Verdict",
        "Violation",
        "__version__",
        "check",
        "decide",
        "install",
        "load_policy",
        "uninstall",
    ]


def test_every_error_is_a_taskguard_error() -> None:
    errors = [
        getattr(taskguard, name)
        for name in taskguard.__all__
        if isinstance(getattr(taskguard, name), type)
        and issubclass(getattr(taskguard, name), Exception)
        and not issubclass(getattr(taskguard, name), Warning)
    ]
    assert {error.__name__ for error in errors} == {
        "ForbiddenImportError",
        "PolicyError",
        "TaskguardError",
        "RuleSelectionError",
    }
    assert all(issubclass(error, taskguard.TaskguardError) for error in errors)
