"""Bearer token (JWT) verification with algorithms fixed by the server.

The token's header only *selects* among what the server allows: its `alg` must be one of the
configured asymmetric algorithms and match the key its `kid` names. Keys never come from the
token (`jku`, `x5u`, `jwk` headers are ignored), so `alg=none`, HMAC-with-the-public-key and
key-injection tricks have nothing to work with.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
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
# Services reuse a token for many requests. Verifying the signature and claims again each
# time was about a third of a request's handling under load (py-spy, 2026-11-29).
VERIFIED_CACHE_SIZE = 1024


class TokenError(SecurityError):
    """The token is missing, malformed, or fails verification; `str()` is safe to show."""


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token that verified, with the key it verified under."""

    token: VerifiedToken
    kid: str
    jwk: JwkDict


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
        clock: Callable[[], float] = time.time,
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
        self._clock = clock
        self._verified: OrderedDict[str, _Verified] = OrderedDict()
        self._verified_lock = threading.Lock()

    @property
    def algorithms(self) -> frozenset[str]:
        return self._algorithms

    def verify(self, token: str) -> VerifiedToken:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("malformed token")
        with self._verified_lock:
            known = self._verified.get(token)
            if known is not None:
                self._verified.move_to_end(token)
        if known is not None:
            still = self._still_valid(token, known)
            if still is not None:
                return still
        verified, kid, jwk = self._verify_fully(token)
        with self._verified_lock:
            self._verified[token] = _Verified(verified, kid, jwk)
            if len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return verified

    def _still_valid(self, token: str, known: _Verified) -> VerifiedToken | None:
        """A token verified before, checked again for what can change since: the time, and
        the key (dropped from the key set: refused; replaced under its kid: verified anew,
        None). The signature and the other claims cannot change: the cache key is the token."""
        jwk = self._keys.get(known.kid)
        if jwk != known.jwk:
            with self._verified_lock:
                self._verified.pop(token, None)
            if jwk is None:
                raise TokenError("unknown signing key (kid)")
            return None
        now, claims = self._clock(), known.token.claims
        problem = None
        if now > claims["exp"] + self._leeway:
            problem = "token expired"
        elif isinstance(claims.get("nbf"), int | float) and now < claims["nbf"] - self._leeway:
            problem = "token not yet valid"
        if problem is not None:
            with self._verified_lock:
                self._verified.pop(token, None)
            raise TokenError(problem)
        return known.token

    def _verify_fully(self, token: str) -> tuple[VerifiedToken, str, JwkDict]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("malformed token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise TokenError("token algorithm not accepted")
        if not isinstance(kid, str) or not kid or len(kid) > 256:
            raise TokenError("token has no key id (kid)")
        key, jwk = self._key(kid, alg)
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
        return VerifiedToken(subject, scopes_of(claims), claims), kid, jwk

    def _key(self, kid: str, alg: str) -> tuple[PyJWK, JwkDict]:
        jwk = self._keys.get(kid)
        if jwk is None:
            raise TokenError("unknown signing key (kid)")
        cached = self._parsed.get((kid, alg))
        # Identity check: a rotated key under a reused kid is parsed again.
        if cached is not None and cached[0] is jwk:
            return cached[1], jwk
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
        return parsed, jwk
