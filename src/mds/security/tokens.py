"""Bearer token (JWT) verification with algorithms fixed by the server.

The token's header only *selects* among what the server allows: its `alg` must be one of the
configured asymmetric algorithms and match the key its `kid` names. Keys never come from the
token (`jku`, `x5u`, `jwk` headers are ignored), so `alg=none`, HMAC-with-the-public-key and
key-injection tricks have nothing to work with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt import PyJWK

from mds.security.errors import SecurityError
from mds.security.jwks import JwkDict, KeySource

# Algorithm → (JWK kty, allowed curves or None). Symmetric (HS*) and "none" are absent on purpose.
ALGORITHM_KEY_TYPES: Mapping[str, tuple[str, frozenset[str] | None]] = {
    **{f"{p}{n}": ("RSA", None) for p in ("RS", "PS") for n in ("256", "384", "512")},
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}
ASYMMETRIC_ALGORITHMS = frozenset(ALGORITHM_KEY_TYPES)
MAX_TOKEN_LENGTH = 8192
REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")


class TokenError(SecurityError):
    """The token is missing, malformed, or fails verification; `str()` is safe to show."""


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    subject: str
    scopes: frozenset[str]
    claims: Mapping[str, Any] = field(repr=False)


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """Scopes from `scope` (RFC 9068: space-separated) or `scp` (a list, as some issuers do)."""
    found: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(v for v in value if isinstance(v, str))
    return frozenset(found)


class TokenVerifier:
    """Checks signature, issuer, audience, expiry and not-before; returns subject and scopes."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        algorithms: Iterable[str],
        leeway: float = 30,
    ) -> None:
        allowed = frozenset(algorithms)
        unsupported = allowed - ASYMMETRIC_ALGORITHMS
        if not allowed or unsupported:
            raise ValueError(f"unsupported token algorithm(s): {sorted(unsupported) or 'none'}")
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._algorithms = allowed
        self._leeway = leeway
        self._parsed: dict[tuple[str, str], tuple[JwkDict, PyJWK]] = {}

    @property
    def algorithms(self) -> frozenset[str]:
        return self._algorithms

    def verify(self, token: str) -> VerifiedToken:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("malformed token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise TokenError("token algorithm not accepted")
        if not isinstance(kid, str) or not kid or len(kid) > 256:
            raise TokenError("token has no key id (kid)")
        key = self._key(kid, alg)
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("token not yet valid") from None
        except jwt.InvalidAudienceError:
            raise TokenError("token audience not accepted") from None
        except jwt.InvalidIssuerError:
            raise TokenError("token issuer not accepted") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"token lacks the {exc.claim} claim") from None
        except jwt.PyJWTError:
            raise TokenError("token signature or claims invalid") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise TokenError("token subject invalid")
        return VerifiedToken(subject, scopes_of(claims), claims)

    def _key(self, kid: str, alg: str) -> PyJWK:
        jwk = self._keys.get(kid)
        if jwk is None:
            raise TokenError("unknown signing key (kid)")
        cached = self._parsed.get((kid, alg))
        # Identity check: a rotated key under a reused kid is parsed again.
        if cached is not None and cached[0] is jwk:
            return cached[1]
        declared = jwk.get("alg")
        if declared is not None and declared != alg:
            raise TokenError("token algorithm does not match its key")
        kty, curves = ALGORITHM_KEY_TYPES[alg]
        if jwk.get("kty") != kty or (curves is not None and jwk.get("crv") not in curves):
            raise TokenError("token algorithm does not match its key")
        try:
            parsed = PyJWK(dict(jwk), algorithm=alg)
        except jwt.PyJWTError:
            raise TokenError("signing key unusable") from None
        self._parsed[(kid, alg)] = (jwk, parsed)
        return parsed
