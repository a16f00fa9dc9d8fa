"""Token verification, the JWKS cache (a fake clock and fetch function) and the local key."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from mds.api.auth import Principal
from mds.config import SettingsError, load_settings
from mds.security.errors import KeyFileError
from mds.security.jwks import JwksCache, JwksUnavailableError, StaticKeys, parse_jwks
from mds.security.scopes import ADMIN, READ, READ_PII, REVIEW, WRITE
from mds.security.signing import LocalSigningKey, token_claims
from mds.security.tokens import TokenError, TokenVerifier, scopes_of

ISSUER, AUDIENCE = "https://issuer.test", "mds"


class FakeIssuer:
    """A JWKS document that can change, a fetch function that counts, and a clock to turn."""

    def __init__(self, *kids: str) -> None:
        self.document: dict[str, Any] = {"keys": [{"kid": k, "kty": "OKP"} for k in kids]}
        self.fetches = 0
        self.now = 1000.0
        self.failing = False

    def fetch(self) -> Mapping[str, Any]:
        self.fetches += 1
        if self.failing:
            raise JwksUnavailableError("issuer down")
        return self.document

    def publish(self, kid: str) -> None:
        self.document = {"keys": [*self.document["keys"], {"kid": kid, "kty": "OKP"}]}

    def cache(self, ttl: float = 300, refresh_interval: float = 30) -> JwksCache:
        return JwksCache(self.fetch, ttl=ttl, refresh_interval=refresh_interval, clock=self.clock)

    def clock(self) -> float:
        return self.now


def test_the_jwks_is_fetched_once_within_its_ttl_then_again() -> None:
    issuer = FakeIssuer("a")
    cache = issuer.cache(ttl=300)
    for _ in range(10):
        assert cache.get("a") is not None
    assert issuer.fetches == 1
    issuer.now += 301
    assert cache.get("a") is not None
    assert issuer.fetches == 2


def test_an_unknown_kid_refetches_at_most_once_per_interval() -> None:
    issuer = FakeIssuer("a")
    cache = issuer.cache(refresh_interval=30)
    assert cache.get("a") is not None
    issuer.now += 31
    for n in range(100):
        assert cache.get(f"random-{n}") is None
    assert issuer.fetches == 2
    issuer.now += 29
    assert cache.get("random-x") is None
    assert issuer.fetches == 2
    issuer.now += 1
    assert cache.get("random-y") is None
    assert issuer.fetches == 3


def test_a_rotated_key_is_picked_up_on_first_use() -> None:
    issuer = FakeIssuer("old")
    cache = issuer.cache(refresh_interval=30)
    assert cache.get("old") is not None
    issuer.publish("new")
    issuer.now += 30
    assert cache.get("new") is not None
    assert cache.get("old") is not None
    assert issuer.fetches == 2


def test_an_issuer_outage_keeps_the_cached_keys_and_is_not_hammered() -> None:
    issuer = FakeIssuer("a")
    cache = issuer.cache(ttl=60, refresh_interval=30)
    assert cache.get("a") is not None
    issuer.failing = True
    issuer.now += 61
    assert cache.get("a") is not None  # stale but usable
    for _ in range(10):
        assert cache.get("a") is not None
        assert cache.get("unknown") is None
    assert issuer.fetches == 2
    issuer.failing = False
    issuer.now += 30
    assert cache.get("a") is not None
    assert issuer.fetches == 3


def test_no_keys_at_all_is_unavailable_and_retried_after_the_interval() -> None:
    issuer = FakeIssuer("a")
    issuer.failing = True
    cache = issuer.cache(refresh_interval=30)
    with pytest.raises(JwksUnavailableError):
        cache.get("a")
    with pytest.raises(JwksUnavailableError):
        cache.get("a")
    assert issuer.fetches == 1
    issuer.failing = False
    issuer.now += 30
    assert cache.get("a") is not None


def test_parse_jwks_keeps_signature_keys_with_a_kid() -> None:
    keys = parse_jwks(
        {
            "keys": [
                {"kid": "sig", "kty": "RSA", "use": "sig"},
                {"kid": "nouse", "kty": "RSA"},
                {"kid": "enc", "kty": "RSA", "use": "enc"},
                {"kty": "RSA"},
                "junk",
            ]
        }
    )
    assert set(keys) == {"sig", "nouse"}
    with pytest.raises(JwksUnavailableError):
        parse_jwks({"nokeys": []})


# The verifier, with keys of each kind.

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()
KEYS = {
    "rsa": {**RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True), "kid": "rsa"},
    "ec": {**ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True), "kid": "ec"},
    "ed": {**OKPAlgorithm.to_jwk(ED_KEY.public_key(), as_dict=True), "kid": "ed"},
    "rsa-ps": {
        **RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True),
        "kid": "rsa-ps",
        "alg": "PS256",
    },
}
PRIVATE: dict[str, Any] = {"rsa": RSA_KEY, "ec": EC_KEY, "ed": ED_KEY, "rsa-ps": RSA_KEY}


def verifier(
    leeway: float = 30, algorithms: tuple[str, ...] = ("RS256", "PS256", "ES256", "EdDSA")
) -> TokenVerifier:
    return TokenVerifier(
        StaticKeys(KEYS), issuer=ISSUER, audience=AUDIENCE, algorithms=algorithms, leeway=leeway
    )


def sign(kid: str, alg: str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "svc", "iat": now, "exp": now + 60}
    claims.update(scope=f"{READ} {WRITE} other:scope", **overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, PRIVATE[kid], algorithm=alg, headers={"kid": kid})


@pytest.mark.parametrize(
    ("kid", "alg"), [("rsa", "RS256"), ("ec", "ES256"), ("ed", "EdDSA"), ("rsa-ps", "PS256")]
)
def test_each_key_type_verifies(kid: str, alg: str) -> None:
    verified = verifier().verify(sign(kid, alg))
    assert verified.subject == "svc"
    assert verified.scopes == {READ, WRITE, "other:scope"}


@pytest.mark.parametrize(
    ("kid", "signer", "alg", "message"),
    [
        ("rsa-ps", "rsa", "RS256", "token algorithm does not match its key"),  # JWK says PS256
        ("ec", "rsa", "RS256", "token algorithm does not match its key"),
        ("ed", "ec", "ES256", "token algorithm does not match its key"),
        ("rsa", "ec", "ES256", "token algorithm does not match its key"),
        ("rsa", "rsa", "RS512", "token algorithm not accepted"),
    ],
)
def test_the_algorithm_must_be_allowed_and_fit_the_key(
    kid: str, signer: str, alg: str, message: str
) -> None:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "s", "exp": int(time.time()) + 60}
    token = jwt.encode(claims, PRIVATE[signer], algorithm=alg, headers={"kid": kid})
    with pytest.raises(TokenError, match=message):
        verifier().verify(token)


def test_an_rsa_jwk_without_alg_serves_any_allowed_rsa_algorithm() -> None:
    assert verifier().verify(sign("rsa", "PS256")).subject == "svc"


def test_the_leeway_absorbs_small_clock_skew_only() -> None:
    token = sign("ed", "EdDSA", exp=int(time.time()) - 10)
    assert verifier(leeway=30).verify(token).subject == "svc"
    with pytest.raises(TokenError, match="token expired"):
        verifier(leeway=0).verify(token)


@pytest.mark.parametrize("token", ["", "x" * 9000, "a.b", "....", "eyJhbGciOiJub25lIn0.e30."])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenError):
        verifier().verify(token)


@pytest.mark.parametrize("algorithms", [("HS256",), ("none",), ("RS256", "HS512"), ()])
def test_the_verifier_refuses_symmetric_or_no_algorithms(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="unsupported token algorithm"):
        verifier(algorithms=algorithms)


@pytest.mark.parametrize("value", ["HS256", "RS256,none", "", "RS256,HS256"])
def test_settings_refuse_symmetric_algorithms(value: str) -> None:
    with pytest.raises(SettingsError, match="MDS_JWT_ALGORITHMS"):
        load_settings(jwt_algorithms=value)


def test_scopes_come_from_scope_or_scp() -> None:
    assert scopes_of({"scope": "a b  c"}) == {"a", "b", "c"}
    assert scopes_of({"scp": ["a", 3, "b"]}) == {"a", "b"}
    assert scopes_of({"scope": 7}) == frozenset()


def test_principal_scope_implications() -> None:
    reader = Principal("r", frozenset({READ}))
    pii_reader = Principal("p", frozenset({READ_PII}))
    writer = Principal("w", frozenset({WRITE}))
    admin = Principal("a", frozenset({ADMIN}))
    assert reader.has(READ) and not reader.can_read_pii
    assert pii_reader.has(READ) and pii_reader.can_read_pii
    assert not writer.has(READ) and not writer.has(REVIEW)
    assert all(admin.has(s) for s in (READ, READ_PII, WRITE, REVIEW)) and admin.can_read_pii


# The local signing key.


def test_the_local_key_is_created_0600_and_reloaded_with_the_same_kid(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "token-signing.pem"
    first = LocalSigningKey.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert LocalSigningKey.load_or_create(path).kid == first.kid
    claims = token_claims(issuer="i", audience="a", subject="s", scopes=[READ], ttl_seconds=60)
    local = TokenVerifier(first.key_source(), issuer="i", audience="a", algorithms=["EdDSA"])
    assert local.verify(first.sign(claims)).scopes == {READ}


def test_concurrent_first_use_makes_one_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "token-signing.pem"
    kids: list[str] = []
    threads = [
        threading.Thread(target=lambda: kids.append(LocalSigningKey.load_or_create(path).kid))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kids) == 8 and len(set(kids)) == 1
    assert [p.name for p in path.parent.iterdir()] == ["token-signing.pem"]


def test_a_group_readable_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token-signing.pem"
    LocalSigningKey.load_or_create(path)
    os.chmod(path, 0o640)
    with pytest.raises(KeyFileError, match="chmod 600"):
        LocalSigningKey.load_or_create(path)


def test_a_key_file_of_another_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token-signing.pem"
    path.write_text("not a pem")
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match="unreadable"):
        LocalSigningKey.load_or_create(path)


# Tokens verified before: what can change since is checked on every use.


class MutableKeys:
    """A key set that can lose or replace keys, as a JWKS does on rotation."""

    def __init__(self, keys: Mapping[str, Any]) -> None:
        self.keys = dict(keys)

    def get(self, kid: str) -> Any:
        return self.keys.get(kid)


def caching_verifier(keys: MutableKeys, clock: list[float]) -> TokenVerifier:
    return TokenVerifier(
        keys, issuer=ISSUER, audience=AUDIENCE, algorithms=["EdDSA"], leeway=30,
        clock=lambda: clock[0],
    )  # fmt: skip


def verified_once(keys: MutableKeys) -> tuple[Callable[[str], Any], str]:
    """A caching verifier's `verify` and a token it has verified (and kept)."""
    verify = caching_verifier(keys, [time.time()]).verify
    token = sign("ed", "EdDSA")
    assert verify(token).subject == "svc"
    return verify, token


def test_a_token_verified_before_still_expires() -> None:
    now = [time.time()]
    verify = caching_verifier(MutableKeys(KEYS), now).verify
    token = sign("ed", "EdDSA")  # exp: now + 60
    assert verify(token).subject == "svc"
    now[0] += 60 + 30 - 5
    assert verify(token).subject == "svc", "within its leeway"
    now[0] += 10
    with pytest.raises(TokenError, match="token expired"):
        verify(token)


def test_a_key_dropped_from_the_key_set_stops_the_tokens_it_signed() -> None:
    keys = MutableKeys(KEYS)
    verify, token = verified_once(keys)
    del keys.keys["ed"]
    with pytest.raises(TokenError, match="unknown signing key"):
        verify(token)


def test_a_key_replaced_under_its_kid_verifies_the_token_again() -> None:
    keys = MutableKeys(KEYS)
    verify, token = verified_once(keys)
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    keys.keys["ed"] = {**OKPAlgorithm.to_jwk(other, as_dict=True), "kid": "ed"}
    with pytest.raises(TokenError, match="signature or claims invalid"):
        verify(token)
    keys.keys["ed"] = dict(KEYS["ed"])  # the same key again, fetched anew: an equal dict
    assert verify(token).subject == "svc"


def test_the_verified_tokens_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mds.security.tokens.VERIFIED_CACHE_SIZE", 3)
    verifier = caching_verifier(MutableKeys(KEYS), [time.time()])
    for n in range(5):
        verifier.verify(sign("ed", "EdDSA", sub=f"svc-{n}"))
    assert len(verifier._verified) == 3
