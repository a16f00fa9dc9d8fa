"""The local token signing key: used when no JWKS URL is configured (development, one host).

An Ed25519 key in a PEM file (mode 0600, created race-free on first use, refused when group- or
world-accessible). `mds token issue` signs with it; the API verifies with its public half.
Deleting the file revokes every token it signed: the next use makes a new key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mds.security.errors import KeyFileError
from mds.security.jwks import StaticKeys
from mds.security.providers import _write_atomically

ALGORITHM = "EdDSA"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class LocalSigningKey:
    private_key: Ed25519PrivateKey
    kid: str

    @classmethod
    def load_or_create(cls, path: Path) -> LocalSigningKey:
        if not path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            # Several processes may start at once: the first link wins, the others read it.
            _write_atomically(path, pem, replace=False)
        return cls._load(path)

    @classmethod
    def _load(cls, path: Path) -> LocalSigningKey:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"token signing key {path} is accessible by group or others (mode {mode:04o}); "
                f"run: chmod 600 {path}"
            )
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise KeyFileError(f"token signing key {path} is unreadable: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"token signing key {path} is not an Ed25519 key")
        return cls(key, _thumbprint(_public_jwk_members(key)))

    def public_jwk(self) -> dict[str, str]:
        return {
            **_public_jwk_members(self.private_key),
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }

    def key_source(self) -> StaticKeys:
        return StaticKeys({self.kid: self.public_jwk()})

    def sign(self, claims: Mapping[str, Any]) -> str:
        return jwt.encode(
            dict(claims), self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid}
        )


def _public_jwk_members(key: Ed25519PrivateKey) -> dict[str, str]:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}


def _thumbprint(members: Mapping[str, str]) -> str:
    """RFC 7638 JWK thumbprint: a stable kid derived from the public key alone."""
    canonical = json.dumps(dict(sorted(members.items())), separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def token_claims(
    *,
    issuer: str,
    audience: str,
    subject: str,
    scopes: Iterable[str],
    ttl_seconds: int,
    now: float | None = None,
) -> dict[str, Any]:
    """Access-token claims in the shape an OAuth2 issuer produces (RFC 9068)."""
    issued = int(time.time() if now is None else now)
    return {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_seconds,
        "jti": uuid.uuid4().hex,
        "scope": " ".join(sorted(set(scopes))),
    }
