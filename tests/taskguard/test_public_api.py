import taskguard


def test_all_is_sorted_and_complete() -> None:
    assert taskguard.__all__ == sorted(taskguard.__all__)
    for name in taskguard.__all__:
        assert hasattr(taskguard, name), name
