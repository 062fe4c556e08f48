"""DispatchSettings.from_env(): the TASKS_* variables."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
import structlog

from dispatch import DispatchConfigError, DispatchSettings, enqueue_http_task, enqueue_many

FULL_ENV = {
    "TASKS_PROJECT": "proj",
    "TASKS_LOCATION": "europe-west1",
    "TASKS_QUEUE": "jobs",
    "TASKS_BASE_URL": "https://worker.example.com",
    "TASKS_SERVICE_ACCOUNT_EMAIL": "tasks@proj.iam.gserviceaccount.com",
    "TASKS_OIDC_AUDIENCE": "https://audience.example.com",
    "TASKS_EMULATOR_HOST": "127.0.0.1:8123",
    "TASKS_DRY_RUN": "no",
}


def test_from_env_reads_every_variable() -> None:
    settings = DispatchSettings.from_env(FULL_ENV)
    assert settings == DispatchSettings(
        project="proj",
        location="europe-west1",
        queue="jobs",
        base_url="https://worker.example.com",
        service_account_email="tasks@proj.iam.gserviceaccount.com",
        oidc_audience="https://audience.example.com",
        emulator_host="127.0.0.1:8123",
        dry_run=False,
    )
    assert settings.queue_path == "projects/proj/locations/europe-west1/queues/jobs"


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKS_QUEUE", "from-environ")
    assert DispatchSettings.from_env().queue == "from-environ"


def test_project_falls_back_to_google_cloud_project() -> None:
    assert DispatchSettings.from_env({"GOOGLE_CLOUD_PROJECT": "gcp"}).project == "gcp"
    both = {"GOOGLE_CLOUD_PROJECT": "gcp", "TASKS_PROJECT": "tasks"}
    assert DispatchSettings.from_env(both).project == "tasks"
    blank = {"GOOGLE_CLOUD_PROJECT": "gcp", "TASKS_PROJECT": "  "}
    assert DispatchSettings.from_env(blank).project == "gcp"


def test_empty_values_are_unset_and_values_are_stripped() -> None:
    settings = DispatchSettings.from_env({"TASKS_QUEUE": "", "TASKS_LOCATION": " us-east1 \n"})
    assert settings.queue is None
    assert settings.location == "us-east1"
    assert settings.queue_path is None


@pytest.mark.parametrize("raw", ["true", "TRUE", "True", "1", "yes", "YES", " yes "])
def test_dry_run_true_values(raw: str) -> None:
    assert DispatchSettings.from_env({"TASKS_DRY_RUN": raw}).dry_run is True


@pytest.mark.parametrize("raw", ["false", "False", "0", "no", "NO", ""])
def test_dry_run_false_values(raw: str) -> None:
    assert DispatchSettings.from_env({"TASKS_DRY_RUN": raw}).dry_run is False


@pytest.mark.parametrize("raw", ["maybe", "on", "2", "tru", "y", "dry"])
def test_dry_run_garbage_is_rejected_naming_the_variable(raw: str) -> None:
    with pytest.raises(DispatchConfigError, match="TASKS_DRY_RUN") as info:
        DispatchSettings.from_env({"TASKS_DRY_RUN": raw})
    assert info.value.field == "TASKS_DRY_RUN"


def test_garbage_dry_run_fails_enqueue_instead_of_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKS_DRY_RUN", "perhaps")
    with pytest.raises(DispatchConfigError, match="TASKS_DRY_RUN"):
        enqueue_http_task("/tasks/x", {"a": 1})


def test_overrides_replace_fields_and_unknown_ones_are_refused() -> None:
    settings = DispatchSettings.from_env(FULL_ENV, queue="other", retry_budget=2.5)
    assert settings.queue == "other"
    assert settings.retry_budget == 2.5
    with pytest.raises(TypeError, match="quuee"):
        DispatchSettings.from_env(FULL_ENV, quuee="other")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("retry_budget", 0),
        ("retry_budget", -1.0),
        ("retry_budget", float("inf")),
        ("attempt_timeout", float("nan")),
        ("initial_backoff", True),
        ("max_backoff", "2"),
    ],
)
def test_retry_knobs_must_be_positive_numbers(field: str, value: object) -> None:
    with pytest.raises(DispatchConfigError) as info:
        dataclasses.replace(DispatchSettings(), **{field: value})
    assert info.value.field == field


def test_initial_backoff_cannot_exceed_max_backoff() -> None:
    with pytest.raises(DispatchConfigError, match="initial_backoff"):
        DispatchSettings(initial_backoff=3.0, max_backoff=1.0)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:", ":8123", "host:99999", "a b:1"])
def test_emulator_host_must_be_host_and_port(host: str) -> None:
    with pytest.raises(DispatchConfigError, match="TASKS_EMULATOR_HOST"):
        DispatchSettings.from_env({"TASKS_EMULATOR_HOST": host})


@pytest.mark.parametrize("host", ["localhost:8123", "127.0.0.1:1", "[::1]:8123"])
def test_emulator_host_accepts_host_port(host: str) -> None:
    assert DispatchSettings.from_env({"TASKS_EMULATOR_HOST": host}).emulator_host == host


def test_settings_are_frozen_and_hashable() -> None:
    settings = DispatchSettings.from_env(FULL_ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.queue = "x"  # type: ignore[misc]
    assert hash(settings) == hash(DispatchSettings.from_env(FULL_ENV))


def test_non_string_values_are_rejected() -> None:
    with pytest.raises(DispatchConfigError, match="queue must be a string"):
        DispatchSettings(queue=3)  # type: ignore[arg-type]


def test_from_env_sees_every_change_of_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # from_env() reuses its last result while nothing changed: changes must still show.
    monkeypatch.setenv("TASKS_QUEUE", "first")
    first = DispatchSettings.from_env()
    assert DispatchSettings.from_env() is first
    monkeypatch.setenv("TASKS_QUEUE", "second")
    assert DispatchSettings.from_env().queue == "second"
    monkeypatch.setenv("TASKS_DRY_RUN", "yes")
    assert DispatchSettings.from_env().dry_run is True
    monkeypatch.delenv("TASKS_PROJECT", raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "fallback")
    assert DispatchSettings.from_env().project == "fallback"
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "changed")
    assert DispatchSettings.from_env().project == "changed"


@pytest.mark.parametrize("settings", [{"queue": "q"}, "TASKS_QUEUE=q", 0])
def test_settings_of_the_wrong_type_are_a_config_error(settings: object) -> None:
    with structlog.testing.capture_logs() as logs, pytest.raises(DispatchConfigError) as info:
        enqueue_http_task("/tasks/x", settings=settings)  # type: ignore[arg-type]
    assert info.value.field == "settings"
    assert type(settings).__name__ in str(info.value)
    assert [e["event"] for e in logs] == ["tasks.enqueue_http_task.config_missing"]
    with pytest.raises(DispatchConfigError, match="settings must be a DispatchSettings"):
        enqueue_many([("/tasks/x", {})], settings=settings)  # type: ignore[arg-type]


def test_a_non_string_dry_run_value_is_a_config_error() -> None:
    with pytest.raises(DispatchConfigError, match="TASKS_DRY_RUN must be a string"):
        DispatchSettings.from_env({"TASKS_DRY_RUN": True})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "host", ["http://127.0.0.1:8123", "127.0.0.1:8123/x", "[::1:8123", "::1:8123", "127.0.0.1:0"]
)
def test_a_malformed_emulator_host_fails_enqueue_and_logs_config_missing(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    monkeypatch.setenv("TASKS_EMULATOR_HOST", host)
    with structlog.testing.capture_logs() as logs, pytest.raises(DispatchConfigError) as info:
        enqueue_http_task("/tasks/x", {"a": 1})
    assert info.value.field == "TASKS_EMULATOR_HOST"
    assert [(e["event"], e["field"]) for e in logs] == [
        ("tasks.enqueue_http_task.config_missing", "TASKS_EMULATOR_HOST")
    ]


# --- every missing variable at once ------------------------------------------------------

_SEND_ENV = {
    "TASKS_PROJECT": "proj",
    "TASKS_LOCATION": "europe-west1",
    "TASKS_QUEUE": "jobs",
    "TASKS_BASE_URL": "https://worker.example.com",
}


def _environment(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for var in (*FULL_ENV, "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    for var, value in values.items():
        monkeypatch.setenv(var, value)


@pytest.mark.parametrize(
    "unset",
    [
        ("TASKS_PROJECT", "TASKS_LOCATION", "TASKS_QUEUE", "TASKS_BASE_URL"),
        ("TASKS_QUEUE", "TASKS_BASE_URL"),
        ("TASKS_PROJECT", "TASKS_BASE_URL"),
        ("TASKS_LOCATION",),
    ],
)
def test_a_missing_configuration_error_names_every_missing_variable(
    monkeypatch: pytest.MonkeyPatch, unset: tuple[str, ...]
) -> None:
    _environment(monkeypatch, **{k: v for k, v in _SEND_ENV.items() if k not in unset})
    with structlog.testing.capture_logs() as logs, pytest.raises(DispatchConfigError) as info:
        enqueue_http_task("/tasks/x", {"a": 1})
    message = str(info.value)
    named = [var for var in _SEND_ENV if var in message]
    assert named == list(unset), message
    assert info.value.field == unset[0]
    assert info.value.missing == unset
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.message, copy.field, copy.missing) == (message, unset[0], unset)
    # ... and the two ways to need none of them.
    assert "TASKS_DRY_RUN=true" in message
    assert "python -m dispatch.emulator" in message
    assert "TASKS_EMULATOR_HOST" in message
    assert "cloud_tasks_emulator" in message
    assert [(e["event"], e["field"]) for e in logs] == [
        ("tasks.enqueue_http_task.config_missing", unset[0])
    ]


def test_only_the_base_url_missing_keeps_its_own_event(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in _SEND_ENV.items() if k != "TASKS_BASE_URL"}
    _environment(monkeypatch, **env)
    with structlog.testing.capture_logs() as logs, pytest.raises(DispatchConfigError) as info:
        enqueue_http_task("/tasks/x")
    assert "set TASKS_BASE_URL (the worker's base URL)." in str(info.value)
    assert [e["event"] for e in logs] == ["tasks.enqueue_http_task.base_url_missing"]


def test_the_queue_argument_and_google_cloud_project_stand_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _environment(monkeypatch, GOOGLE_CLOUD_PROJECT="proj")
    with pytest.raises(DispatchConfigError) as info:
        enqueue_http_task("/tasks/x", queue="other")
    message = str(info.value)
    assert "TASKS_LOCATION, TASKS_BASE_URL" in message
    assert "TASKS_PROJECT" not in message
    assert "TASKS_QUEUE" not in message
    assert DispatchSettings(project="p", location="l").missing_to_send("q") == ("TASKS_BASE_URL",)
    assert DispatchSettings().missing_to_send() == (
        "TASKS_PROJECT",
        "TASKS_LOCATION",
        "TASKS_QUEUE",
        "TASKS_BASE_URL",
    )


def test_dry_run_and_capture_need_none_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    _environment(monkeypatch, TASKS_DRY_RUN="true")
    assert enqueue_http_task("/tasks/x").startswith("dry-run-")


# --- every problem at once, invalid values with missing ones ------------------------------

_DRY_RUN_BAD = "TASKS_DRY_RUN must be one of true/1/yes or false/0/no"
_BASE_URL_BAD = "TASKS_BASE_URL must be an http(s) URL"


def _check_reported_together(
    error: DispatchConfigError, invalid: dict[str, str], missing: tuple[str, ...]
) -> None:
    message = str(error)
    assert error.missing == missing
    assert [name for name, _ in error.problems] == [*invalid, *missing]
    assert error.field == next(iter(invalid))
    for name, said in invalid.items():
        assert said in dict(error.problems)[name]
        assert said in message
    for var in missing:
        assert dict(error.problems)[var] == f"{var} is not set"
        assert var in message.split("missing configuration: set ", 1)[1]
    assert "TASKS_DRY_RUN=true" in message
    assert "python -m dispatch.emulator" in message
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, copy.field, copy.missing, copy.problems) == (
        error.message,
        error.field,
        error.missing,
        error.problems,
    )


def test_an_invalid_dry_run_value_is_reported_with_every_missing_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _environment(monkeypatch, TASKS_PROJECT="proj", TASKS_DRY_RUN="maybe")
    with structlog.testing.capture_logs() as logs, pytest.raises(DispatchConfigError) as info:
        enqueue_http_task("/tasks/x", {"a": 1})
    missing = ("TASKS_LOCATION", "TASKS_QUEUE", "TASKS_BASE_URL")
    _check_reported_together(info.value, {"TASKS_DRY_RUN": _DRY_RUN_BAD}, missing)
    assert [(e["event"], e["field"]) for e in logs] == [
        ("tasks.enqueue_http_task.config_missing", "TASKS_DRY_RUN")
    ]
    # from_env itself, with no call to say whether a queue is given, lists TASKS_QUEUE too.
    with pytest.raises(DispatchConfigError) as direct:
        DispatchSettings.from_env({"TASKS_PROJECT": "proj", "TASKS_DRY_RUN": "maybe"})
    _check_reported_together(direct.value, {"TASKS_DRY_RUN": _DRY_RUN_BAD}, missing)


def test_a_non_http_base_url_is_reported_with_every_missing_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _environment(monkeypatch, TASKS_PROJECT="proj", TASKS_BASE_URL="ftp://worker.example.com")
    with structlog.testing.capture_logs() as logs, pytest.raises(DispatchConfigError) as info:
        enqueue_http_task("/tasks/x", {"a": 1})
    missing = ("TASKS_LOCATION", "TASKS_QUEUE")
    _check_reported_together(info.value, {"TASKS_BASE_URL": _BASE_URL_BAD}, missing)
    assert [(e["event"], e["field"]) for e in logs] == [
        ("tasks.enqueue_http_task.config_missing", "TASKS_BASE_URL")
    ]


@pytest.mark.parametrize(
    ("var", "value", "said"),
    [
        ("TASKS_PROJECT", "my project", "TASKS_PROJECT is not a valid Cloud Tasks id"),
        ("TASKS_BASE_URL", "http://user@worker.example.com", _BASE_URL_BAD),
        ("TASKS_SERVICE_ACCOUNT_EMAIL", "not-an-email", "TASKS_SERVICE_ACCOUNT_EMAIL must be"),
        ("TASKS_EMULATOR_HOST", "127.0.0.1", "TASKS_EMULATOR_HOST must be host:port"),
        ("TASKS_DRY_RUN", "on", _DRY_RUN_BAD),
    ],
)
def test_each_invalid_value_comes_with_the_missing_ones(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, said: str
) -> None:
    env = {k: v for k, v in _SEND_ENV.items() if k not in ("TASKS_LOCATION", "TASKS_QUEUE")}
    _environment(monkeypatch, **{**env, var: value})
    with pytest.raises(DispatchConfigError) as info:
        enqueue_http_task("/tasks/x", {"a": 1})
    _check_reported_together(info.value, {var: said}, ("TASKS_LOCATION", "TASKS_QUEUE"))


def test_several_invalid_values_and_the_queue_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    _environment(
        monkeypatch,
        TASKS_PROJECT="proj",
        TASKS_QUEUE="not a queue",  # unused: the call names its queue
        TASKS_BASE_URL="ftp://worker.example.com",
        TASKS_DRY_RUN="maybe",
    )
    with pytest.raises(DispatchConfigError) as info:
        enqueue_http_task("/tasks/x", {"a": 1}, queue="jobs")
    _check_reported_together(
        info.value,
        {"TASKS_BASE_URL": _BASE_URL_BAD, "TASKS_DRY_RUN": _DRY_RUN_BAD},
        ("TASKS_LOCATION",),
    )
    assert "TASKS_QUEUE" not in str(info.value)


def test_a_lone_invalid_value_keeps_its_own_message_and_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _environment(monkeypatch, **{**_SEND_ENV, "TASKS_BASE_URL": "ftp://worker.example.com"})
    with structlog.testing.capture_logs() as logs, pytest.raises(DispatchConfigError) as info:
        enqueue_http_task("/tasks/x", {"a": 1})
    assert str(info.value).startswith(_BASE_URL_BAD)
    assert "missing configuration" not in str(info.value)
    assert info.value.problems == (("TASKS_BASE_URL", str(info.value)),)
    assert info.value.missing == ()
    assert [e["event"] for e in logs] == ["tasks.enqueue_http_task.base_url_missing"]


def test_settings_built_directly_list_every_bad_field() -> None:
    with pytest.raises(DispatchConfigError) as info:
        DispatchSettings(retry_budget=-1, max_backoff=0, emulator_host="nowhere")
    assert [name for name, _ in info.value.problems] == [
        "TASKS_EMULATOR_HOST",
        "retry_budget",
        "max_backoff",
    ]
    for part in ("retry_budget must be", "max_backoff must be", "TASKS_EMULATOR_HOST must be"):
        assert part in str(info.value)


def test_an_error_about_one_thing_has_it_as_its_one_problem() -> None:
    error = DispatchConfigError("path must start with a single '/'", field="path")
    assert error.problems == (("path", "path must start with a single '/'"),)
    assert DispatchConfigError("no field").problems == ()
    assert pickle.loads(pickle.dumps(error)).problems == error.problems


def test_a_dry_run_override_replaces_an_unreadable_variable() -> None:
    env = {"TASKS_DRY_RUN": "maybe"}
    assert DispatchSettings.from_env(env, dry_run=True).dry_run is True
    with pytest.raises(DispatchConfigError, match="TASKS_DRY_RUN must be one of"):
        DispatchSettings.from_env(env, queue="jobs")


def test_a_bad_base_url_is_not_reported_again_as_the_token_audience(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The audience defaults to the base URL: one bad value, one problem.
    env = {**_SEND_ENV, "TASKS_BASE_URL": "https://wörker.example.com"}
    _environment(monkeypatch, **env, TASKS_SERVICE_ACCOUNT_EMAIL="sa@p.iam.gserviceaccount.com")
    with pytest.raises(DispatchConfigError) as info:
        enqueue_http_task("/tasks/x", {"a": 1})
    assert [name for name, _ in info.value.problems] == ["TASKS_BASE_URL"]
