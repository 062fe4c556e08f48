"""Who may call the task endpoints: Cloud Tasks, with an OIDC token for our service account.

The token is verified with google-auth against the signing certificates at
``PODCAST_OIDC_CERTS_URL`` (Google's in production, the emulator's locally). Tokens and
the Authorization header are never logged.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import HTTPException, Request
from google.auth import exceptions as google_auth_exceptions
from google.auth import jwt
from google.auth.transport import requests as google_requests

_log = structlog.get_logger("podcast_app.oidc")

ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})
CERTS_TTL = 300.0
# Unknown key ids are what an attacker sends at will: refetch for them at most this often.
MIN_REFETCH = 30.0
CLOCK_SKEW = 10


class TokenRejected(Exception):
    """The request does not carry a valid token for our service account (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OidcVerifier:
    def __init__(self, *, audience: str, email: str, certs_url: str) -> None:
        self.audience = audience
        self.email = email
        self.certs_url = certs_url
        self._lock = threading.Lock()
        self._certs: Mapping[str, str] = {}
        self._fetched_at = float("-inf")

    def _fetch_certs(self, *, force: bool) -> Mapping[str, str]:
        with self._lock:
            age = time.monotonic() - self._fetched_at
            if age > CERTS_TTL or (force and age > MIN_REFETCH):
                response = google_requests.Request()(self.certs_url, method="GET", timeout=5)
                if response.status != 200:
                    raise TokenRejected(f"signing certificates unavailable ({response.status})")
                certs = json.loads(response.data)
                if not isinstance(certs, dict):
                    raise TokenRejected("signing certificates are malformed")
                self._certs = certs
                self._fetched_at = time.monotonic()
            return self._certs

    def verify(self, authorization: str | None) -> Mapping[str, Any]:
        """The verified claims of the bearer token, or ``TokenRejected``."""
        if not authorization:
            raise TokenRejected("no Authorization header")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenRejected("Authorization is not a bearer token")
        token = token.strip()
        try:
            header = jwt.decode_header(token)
            kid = header.get("kid") if isinstance(header, dict) else None
            certs = self._fetch_certs(force=False)
            if isinstance(kid, str) and kid not in certs:
                # Keys rotate: a key we have not seen yet gets a refetch (rate-limited).
                certs = self._fetch_certs(force=True)
            claims = jwt.decode(
                token, certs=certs, audience=self.audience, clock_skew_in_seconds=CLOCK_SKEW
            )
        except (google_auth_exceptions.GoogleAuthError, ValueError) as exc:
            raise TokenRejected(f"invalid token: {type(exc).__name__}") from None
        if claims.get("iss") not in ISSUERS:
            raise TokenRejected("token not issued by Google")
        if claims.get("email") != self.email or claims.get("email_verified") is not True:
            raise TokenRejected("token is for another service account")
        return claims


def require_task_caller(request: Request) -> None:
    """FastAPI dependency for task endpoints: 401 unless the caller is our task queue."""
    verifier: OidcVerifier | None = request.app.state.task_verifier
    if verifier is None:  # PODCAST_WORKER_AUTH=off: local tests only
        return
    try:
        verifier.verify(request.headers.get("authorization"))
    except TokenRejected as exc:
        _log.warning("worker.auth.rejected", path=request.url.path, reason=exc.reason)
        raise HTTPException(
            status_code=401, detail="unauthorized", headers={"WWW-Authenticate": "Bearer"}
        ) from None
