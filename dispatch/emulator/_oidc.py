"""OIDC tokens for task deliveries, signed with the emulator's own RSA key (never Google's)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TOKEN_LIFETIME = 3600
GOOGLE_ISSUER = "https://accounts.google.com"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint_b64(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def subject_for(email: str) -> str:
    """A stable numeric subject per service account, shaped like Google's unique ids."""
    digest = hashlib.sha256(email.encode("utf-8")).digest()
    return str(10**20 + int.from_bytes(digest[:8], "big") % (9 * 10**20))


class OidcSigner:
    """Holds one RSA key, made on first use: key generation is the slow part of start-up."""

    def __init__(self, issuer: str = GOOGLE_ISSUER) -> None:
        self.issuer = issuer
        self._lock = threading.Lock()
        self._key: rsa.RSAPrivateKey | None = None
        self._kid = ""

    def _private_key(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._key is None:
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                der = key.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                self._kid = hashlib.sha256(der).hexdigest()[:40]
                self._key = key
            return self._key

    @property
    def kid(self) -> str:
        self._private_key()
        return self._kid

    def jwks(self) -> dict[str, Any]:
        numbers = self._private_key().public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "kid": self._kid,
                    "n": _uint_b64(numbers.n),
                    "e": _uint_b64(numbers.e),
                }
            ]
        }

    def pem_certs(self) -> dict[str, str]:
        """kid -> PEM public key: the shape of Google's v1 certs endpoint."""
        pem = (
            self._private_key()
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return {self._kid: pem.decode("ascii")}

    def token(self, email: str, audience: str, now: float | None = None) -> str:
        key = self._private_key()
        issued = int(time.time() if now is None else now)
        subject = subject_for(email)
        header = {"alg": "RS256", "kid": self._kid, "typ": "JWT"}
        claims = {
            "aud": audience,
            "azp": subject,
            "email": email,
            "email_verified": True,
            "exp": issued + TOKEN_LIFETIME,
            "iat": issued,
            "iss": self.issuer,
            "sub": subject,
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)
