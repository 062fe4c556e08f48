"""OIDC tokens on deliveries: verified with the published key, by hand and by google-auth."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request

import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from emulator_support import http_task
from google.auth import jwt as google_jwt
from google.auth.transport.requests import Request
from google.oauth2 import id_token

from dispatch.emulator import Emulator

SA = "worker@emu-test.iam.gserviceaccount.com"


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _verify_with_jwks(token: str, jwks: dict) -> dict:
    """An independent RS256 check: rebuild the public key from the JWK and verify."""
    header_b64, claims_b64, sig_b64 = token.split(".")
    header = json.loads(_b64(header_b64))
    assert header["alg"] == "RS256"
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    public = rsa.RSAPublicNumbers(
        int.from_bytes(_b64(jwk["e"]), "big"), int.from_bytes(_b64(jwk["n"]), "big")
    ).public_key()
    public.verify(
        _b64(sig_b64), f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    return json.loads(_b64(claims_b64))


def _bearer(received) -> str:
    scheme, token = received.headers["Authorization"].split(" ", 1)
    assert scheme == "Bearer"
    return token


def _fetch(url: str) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as resp:
        assert resp.headers["Content-Type"] == "application/json"
        return json.loads(resp.read())


def test_token_is_signed_by_the_published_key_with_the_expected_claims(
    client, queue, worker, emulator
):
    url = worker.url + "/secure/run"
    client.create_task(
        parent=queue, task=http_task(url, b"{}", oidc_token={"service_account_email": SA})
    )
    (got,) = worker.wait_for(1)
    token = _bearer(got)
    jwks = _fetch(emulator.jwks_url)
    assert jwks == emulator.public_jwks()
    claims = _verify_with_jwks(token, jwks)
    assert claims["aud"] == url  # no audience given: the task URL
    assert claims["email"] == SA
    assert claims["email_verified"] is True
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["sub"].isdigit()
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 120


def test_an_explicit_audience_is_used_and_google_auth_verifies_the_token(
    client, queue, worker, emulator
):
    client.create_task(
        parent=queue,
        task=http_task(
            worker.url + "/aud",
            oidc_token={"service_account_email": SA, "audience": "https://worker.example"},
        ),
    )
    (got,) = worker.wait_for(1)
    token = _bearer(got)
    claims = google_jwt.decode(
        token, certs=emulator.public_pem_certs(), audience="https://worker.example"
    )
    assert claims["email"] == SA
    with pytest.raises(ValueError, match="audience"):
        google_jwt.decode(token, certs=emulator.public_pem_certs(), audience=worker.url + "/aud")
    session = requests.Session()
    session.trust_env = False
    try:
        verified = id_token.verify_token(
            token,
            Request(session=session),
            audience="https://worker.example",
            certs_url=emulator.jwks_url.replace("/v3/", "/v1/"),
        )
    finally:
        session.close()
    assert verified["sub"] == claims["sub"]


def test_a_token_does_not_verify_with_another_emulators_key(client, queue, worker):
    client.create_task(
        parent=queue, task=http_task(worker.url + "/o", oidc_token={"service_account_email": SA})
    )
    token = _bearer(worker.wait_for(1)[0])
    kid = json.loads(_b64(token.split(".")[0]))["kid"]
    with Emulator(port=0) as other:
        # The other emulator's key under the kid the token names: only the key differs.
        (other_jwk,) = other.public_jwks()["keys"]
        assert other_jwk["kid"] != kid
        with pytest.raises(InvalidSignature):
            _verify_with_jwks(token, {"keys": [{**other_jwk, "kid": kid}]})
        (other_pem,) = other.public_pem_certs().values()
        with pytest.raises(ValueError, match="signature"):
            google_jwt.decode(token, certs={kid: other_pem})


def test_a_task_authorization_header_is_replaced_by_the_token(client, queue, worker):
    client.create_task(
        parent=queue,
        task=http_task(
            worker.url + "/r",
            headers={"Authorization": "Bearer forged"},
            oidc_token={"service_account_email": SA},
        ),
    )
    (got,) = worker.wait_for(1)
    assert _bearer(got) != "forged"
    assert [k for k in got.header_names if k.lower() == "authorization"] == ["Authorization"]


def test_the_openid_configuration_points_at_the_key_set(emulator):
    config = _fetch(
        emulator.jwks_url.replace("/oauth2/v3/certs", "/.well-known/openid-configuration")
    )
    assert config["jwks_uri"] == emulator.jwks_url
    assert config["issuer"] == "https://accounts.google.com"
    with pytest.raises(urllib.error.HTTPError):
        _fetch(emulator.jwks_url.replace("/oauth2/v3/certs", "/nope"))
