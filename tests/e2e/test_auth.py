"""Bearer tokens through the real app: a JWKS issuer on loopback, every bypass attempt refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mds.api.app import create_app
from mds.api.auth import build_token_verifier
from mds.bootstrap import Runtime
from mds.config import Settings
from mds.security.keyring import Keyring
from mds.security.providers import LocalKeyFileProvider
from mds.security.scopes import ADMIN, ALL_SCOPES, READ, READ_PII, WRITE
from mds.security.signing import LocalSigningKey
from tests.e2e.conftest import free_port
from tests.e2e.jwks_server import AUDIENCE, ISSUER, Issuer, serve_jwks

SIGNAL = {
    "event_id": "auth-evt-1",
    "source_system": "crm",
    "source_record_id": "auth-1",
    "event_type": "crm_import",
    "occurred_at": "2026-11-01T10:00:00Z",
    "attributes": {"given_name": "Ana", "family_name": "García", "email": "ana@example.com"},
}
AppFactory = Callable[..., TestClient]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], key: bytes | None = None) -> str:
    """A JWT assembled by hand: `alg=none` (no key) or HS256 with any bytes as the secret."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = (
        b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    )
    return f"{signing_input}.{_b64(signature)}"


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def jwks_url(issuer: Issuer) -> Iterator[str]:
    with serve_jwks(issuer) as url:
        yield url


@pytest.fixture
def make_client(
    test_settings: Settings,
    engine: Engine,
    sessions: sessionmaker[Session],
    key_provider: LocalKeyFileProvider,
    keyring: Keyring,
) -> Iterator[AppFactory]:
    """Start the real app with settings overrides; clients send no token unless told."""
    stack: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = test_settings.model_copy(update=overrides)
        app = create_app(lambda: Runtime(settings, engine, sessions, key_provider, keyring))
        client = TestClient(app)
        client.__enter__()
        stack.append(client)
        return client

    yield make
    for client in reversed(stack):
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_client: AppFactory, jwks_url: str) -> TestClient:
    """The app trusting the loopback issuer; refetches allowed at most every second."""
    return make_client(
        jwks_url=jwks_url,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwks_refresh_interval_seconds=1.0,
    )


def _post(client: TestClient, token: str | None = None, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post("/v1/signals", json=SIGNAL, headers=headers, **kwargs)


def _assert_problem(response: Any, status: int, detail: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert (
        body["title"] == {401: "Unauthorized", 403: "Forbidden", 503: "Service Unavailable"}[status]
    )
    assert body["detail"] == detail
    return body


def test_a_valid_token_is_accepted_and_the_jwks_fetched_once(
    api: TestClient, issuer: Issuer
) -> None:
    for n in range(5):
        response = _post(api, issuer.token(WRITE, jti=str(n)))
        assert response.status_code == 200, response.text
    assert response.json()["results"][0]["decision"] in {"created", "duplicate-ignored"}
    assert issuer.fetches == 1


def test_no_token_gets_a_bare_challenge(api: TestClient) -> None:
    response = _post(api)
    _assert_problem(response, 401, "a bearer token is required")
    assert response.headers["www-authenticate"] == 'Bearer realm="mds"'


def _forged(issuer: Issuer) -> str:
    """Right kid, signature by a key the issuer never published."""
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(issuer.claims(WRITE), stranger, "RS256", headers={"kid": issuer.current})


def _hs256_with_public_key(issuer: Issuer) -> str:
    public_pem = (
        issuer.keys[issuer.current]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": issuer.current}
    return _unsigned(header, issuer.claims(WRITE), key=public_pem)


def _random_kid(issuer: Issuer) -> str:
    """Signed by the issuer's key, but naming a kid nobody published."""
    kid = uuid.uuid4().hex
    return jwt.encode(issuer.claims(WRITE), issuer.keys[issuer.current], "RS256", {"kid": kid})


def _es256_under_rsa_kid(issuer: Issuer) -> str:
    other = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(issuer.claims(WRITE), other, "ES256", headers={"kid": issuer.current})


BYPASSES: dict[str, tuple[Callable[[Issuer], str], str]] = {
    "garbage": (lambda i: "not-a-jwt", "malformed token"),
    "three garbage parts": (lambda i: "abc.def.ghi", "malformed token"),
    "alg none": (
        lambda i: _unsigned({"alg": "none", "typ": "JWT", "kid": i.current}, i.claims(WRITE)),
        "token algorithm not accepted",
    ),
    "HS256 signed with the public key": (_hs256_with_public_key, "token algorithm not accepted"),
    "ES256 header under an RSA kid": (
        _es256_under_rsa_kid,
        "token algorithm does not match its key",
    ),
    "forged signature": (_forged, "token signature or claims invalid"),
    "wrong issuer": (
        lambda i: i.token(WRITE, iss="https://evil.test"),
        "token issuer not accepted",
    ),
    "wrong audience": (lambda i: i.token(WRITE, aud="billing"), "token audience not accepted"),
    "expired": (
        lambda i: i.token(WRITE, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
        "token expired",
    ),
    "not yet valid": (lambda i: i.token(WRITE, nbf=int(time.time()) + 3600), "token not yet valid"),
    "no expiry": (lambda i: i.token(WRITE, exp=None), "token lacks the exp claim"),
    "no subject": (lambda i: i.token(WRITE, sub=None), "token lacks the sub claim"),
    "unknown kid": (_random_kid, "unknown signing key (kid)"),
    "no kid": (
        lambda i: jwt.encode(i.claims(WRITE), i.keys[i.current], "RS256"),
        "token has no key id (kid)",
    ),
}


@pytest.mark.parametrize("attempt", list(BYPASSES))
def test_bypass_attempt_is_refused(api: TestClient, issuer: Issuer, attempt: str) -> None:
    make_token, detail = BYPASSES[attempt]
    response = _post(api, make_token(issuer))
    _assert_problem(response, 401, detail)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="mds", error="invalid_token"')
    assert f'error_description="{detail}"' in challenge


def test_a_missing_scope_is_403_naming_it(api: TestClient, issuer: Issuer) -> None:
    response = _post(api, issuer.token(READ, READ_PII))
    _assert_problem(response, 403, "missing scope mds:write")
    assert response.headers["www-authenticate"] == (
        'Bearer realm="mds", error="insufficient_scope", scope="mds:write"'
    )


def test_scopes_may_come_as_an_scp_list(api: TestClient, issuer: Issuer) -> None:
    assert _post(api, issuer.token(scope=None, scp=[WRITE])).status_code == 200


def test_admin_holds_every_scope(api: TestClient, issuer: Issuer) -> None:
    assert _post(api, issuer.token(ADMIN)).status_code == 200


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        ("Bearer ", "Authorization header must be 'Bearer <token>'"),
        ("Bearer", "Authorization header must be 'Bearer <token>'"),
        ("Basic dXNlcjpwYXNz", "Authorization header must be 'Bearer <token>'"),
    ],
)
def test_a_malformed_authorization_header_is_invalid_request(
    api: TestClient, authorization: str, detail: str
) -> None:
    response = api.post("/v1/signals", json=SIGNAL, headers={"Authorization": authorization})
    _assert_problem(response, 401, detail)
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


def test_a_token_in_the_query_string_is_not_accepted(api: TestClient, issuer: Issuer) -> None:
    response = api.post("/v1/signals", json=SIGNAL, params={"access_token": issuer.token(WRITE)})
    _assert_problem(response, 401, "a bearer token is required")


def test_a_rotated_key_is_fetched_on_its_first_use(api: TestClient, issuer: Issuer) -> None:
    assert _post(api, issuer.token(WRITE)).status_code == 200
    assert issuer.fetches == 1
    old = issuer.current
    issuer.rotate()
    time.sleep(1.05)  # past the refetch interval
    assert _post(api, issuer.token(WRITE)).status_code == 200
    assert issuer.fetches == 2
    # Both keys are now known: no further fetches for either.
    assert _post(api, issuer.token(WRITE, kid=old)).status_code == 200
    assert _post(api, issuer.token(WRITE)).status_code == 200
    assert issuer.fetches == 2


def test_a_flood_of_unknown_kids_makes_one_refetch(api: TestClient, issuer: Issuer) -> None:
    assert _post(api, issuer.token(WRITE)).status_code == 200
    time.sleep(1.05)
    for _ in range(20):
        _assert_problem(_post(api, _random_kid(issuer)), 401, "unknown signing key (kid)")
    assert issuer.fetches == 2
    assert _post(api, issuer.token(WRITE)).status_code == 200


def test_an_unreachable_issuer_is_503_not_401(make_client: AppFactory, issuer: Issuer) -> None:
    closed = f"http://127.0.0.1:{free_port()}/jwks.json"
    client = make_client(jwks_url=closed, jwt_issuer=ISSUER)
    response = _post(client, issuer.token(WRITE))
    _assert_problem(response, 503, "token signing keys are unavailable; retry later")


def test_local_tokens_are_refused_when_a_jwks_url_is_set(
    api: TestClient, issue_token: Callable[..., str]
) -> None:
    response = _post(api, issue_token(*ALL_SCOPES))
    _assert_problem(response, 401, "unknown signing key (kid)")


# The local signing key (no JWKS URL): what `client` and `mds token issue` use.


def test_the_local_key_accepts_its_tokens_and_checks_scopes(
    client: TestClient, auth_header: Callable[..., dict[str, str]]
) -> None:
    ok = client.post("/v1/signals", json=SIGNAL, headers=auth_header(WRITE))
    assert ok.status_code == 200, ok.text
    denied = client.post("/v1/signals", json=SIGNAL, headers=auth_header(READ))
    _assert_problem(denied, 403, "missing scope mds:write")


def test_the_local_key_refuses_a_token_from_another_key_with_its_kid(
    client: TestClient, test_settings: Settings, tmp_path: Path
) -> None:
    genuine = LocalSigningKey.load_or_create(test_settings.token_signing_key_path)
    other = LocalSigningKey.load_or_create(tmp_path / "other.pem")
    claims = {
        "iss": test_settings.jwt_issuer,
        "aud": test_settings.jwt_audience,
        "sub": "mallory",
        "exp": int(time.time()) + 60,
        "scope": WRITE,
    }
    forged = jwt.encode(claims, other.private_key, "EdDSA", headers={"kid": genuine.kid})
    response = _post(client, forged)
    _assert_problem(response, 401, "token signature or claims invalid")


def test_local_tokens_expire(client: TestClient, issue_token: Callable[..., str]) -> None:
    token = issue_token(WRITE, exp=int(time.time()) - 120)
    _assert_problem(_post(client, token), 401, "token expired")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
def test_operational_endpoints_need_no_token(client: TestClient, path: str) -> None:
    del client.headers["Authorization"]
    response = client.get(path)
    # /readyz may be 503 on the test database; what matters is that nobody asks for a token.
    assert response.status_code in {200, 503}, response.text
    assert "www-authenticate" not in response.headers


def test_openapi_declares_the_bearer_scheme_and_scopes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An OAuth2 access token (JWT). Required scopes are listed per operation.",
    }
    assert spec["paths"]["/v1/signals"]["post"]["security"] == [{"bearer": [WRITE]}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


# `mds token issue`: the local issuer for people and scripts.


def _token_cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MDS_")}
    base.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "mds", "token", "issue", *args],
        env={**base, "MDS_DATA_DIR": str(data_dir), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_token_issue_prints_a_token_the_app_accepts_with_exactly_its_scopes(
    make_client: AppFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    result = _token_cli(data_dir, "--scope", READ, "--scope", WRITE, "--subject", "ops-alice")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert (data_dir / "keys" / "token-signing.pem").stat().st_mode & 0o777 == 0o600

    client = make_client(data_dir=data_dir)
    assert _post(client, token).status_code == 200
    verified = build_token_verifier(client.app.state.runtime.settings).verify(token)
    assert (verified.subject, verified.scopes) == ("ops-alice", {READ, WRITE})

    reader = _token_cli(data_dir, "--scope", READ).stdout.strip().splitlines()[-1]
    _assert_problem(_post(client, reader), 403, "missing scope mds:write")


def test_token_issue_refuses_unknown_scopes_and_a_configured_issuer(tmp_path: Path) -> None:
    unknown = _token_cli(tmp_path, "--scope", READ, "--scope", "mds:everything")
    assert unknown.returncode == 2
    assert "mds:everything" in unknown.stderr
    assert unknown.stdout == ""

    remote = _token_cli(tmp_path, "--scope", READ, MDS_JWKS_URL="https://issuer.test/jwks")
    assert remote.returncode == 1
    assert "MDS_JWKS_URL" in remote.stderr
    assert remote.stdout == ""
