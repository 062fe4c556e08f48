"""Service settings, read once from the environment.

Task dispatch itself is configured by the ``TASKS_*`` variables that ``dispatch`` reads;
the worker reuses two of them to know which tokens to accept: the service account the tasks
are sent as (``TASKS_SERVICE_ACCOUNT_EMAIL``) and the audience (``TASKS_OIDC_AUDIENCE``,
else ``TASKS_BASE_URL``, the same default ``dispatch`` uses when it builds the token).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"

_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"", "0", "false", "no"})


class SettingsError(ValueError):
    """A setting is missing or malformed; ``name`` is the environment variable."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(name, message)
        self.name = name
        self.message = message

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SettingsError(name, f"expected true/false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    database: str
    worker_auth: bool
    oidc_audience: str | None
    oidc_email: str | None
    oidc_certs_url: str
    flaky_transcribe: bool
    log_format: str
    webhook_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        auth = env.get("PODCAST_WORKER_AUTH", "oidc").strip().lower()
        if auth not in {"oidc", "off"}:
            raise SettingsError("PODCAST_WORKER_AUTH", f"expected oidc or off, got {auth!r}")
        audience = env.get("TASKS_OIDC_AUDIENCE") or env.get("TASKS_BASE_URL") or None
        email = env.get("TASKS_SERVICE_ACCOUNT_EMAIL") or None
        # Fail closed: task endpoints are public URLs, so a worker that cannot check who
        # calls it must not start rather than accept anyone.
        if auth == "oidc" and not (audience and email):
            raise SettingsError(
                "TASKS_SERVICE_ACCOUNT_EMAIL",
                "worker authentication is on (PODCAST_WORKER_AUTH=oidc): set "
                "TASKS_SERVICE_ACCOUNT_EMAIL and TASKS_BASE_URL (or TASKS_OIDC_AUDIENCE), "
                "or PODCAST_WORKER_AUTH=off for local tests",
            )
        log_format = env.get("PODCAST_LOG_FORMAT", "console").strip().lower()
        if log_format not in {"console", "json"}:
            raise SettingsError(
                "PODCAST_LOG_FORMAT", f"expected console or json, got {log_format!r}"
            )
        return cls(
            database=env.get("PODCAST_DB") or "podcast.sqlite3",
            worker_auth=auth == "oidc",
            oidc_audience=audience,
            oidc_email=email,
            oidc_certs_url=env.get("PODCAST_OIDC_CERTS_URL") or GOOGLE_CERTS_URL,
            flaky_transcribe=_flag(env, "PODCAST_FLAKY_TRANSCRIBE"),
            log_format=log_format,
            webhook_url=env.get("PODCAST_WEBHOOK_URL") or None,
        )
