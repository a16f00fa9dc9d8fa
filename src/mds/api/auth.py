"""Who is calling and what they may do: bearer tokens checked, scopes required per endpoint.

Routes declare `principal: Annotated[Principal, Depends(require_scopes(READ))]`. A missing or
invalid token is a 401 with `WWW-Authenticate: Bearer …` (RFC 6750 error codes); a valid token
without a required scope is a 403 naming the scope. Both go out as problem+json.
"""

# No `from __future__ import annotations`: FastAPI must evaluate the dependency's annotation,
# which refers to the closure's `scopes`, at definition time.
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from mds.api.tls import client_cert_name
from mds.config import Settings
from mds.security.jwks import JwksCache, JwksUnavailableError, KeySource, http_fetcher
from mds.security.scopes import ADMIN, ALL_SCOPES, READ, READ_PII
from mds.security.signing import ALGORITHM as LOCAL_ALGORITHM
from mds.security.signing import LocalSigningKey
from mds.security.tokens import TokenError, TokenVerifier

REALM = "mds"
log = structlog.get_logger("mds.auth")


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    scopes: frozenset[str]
    client_certificate: str | None = None

    def has(self, scope: str) -> bool:
        if scope in self.scopes or ADMIN in self.scopes:
            return True
        # Reading PII is reading, plus more.
        return scope == READ and READ_PII in self.scopes

    @property
    def can_read_pii(self) -> bool:
        return self.has(READ_PII)


def build_token_verifier(settings: Settings) -> TokenVerifier:
    """The verifier for these settings: the issuer's JWKS, or the local signing key."""
    keys: KeySource
    if settings.jwks_url:
        keys = JwksCache(
            http_fetcher(settings.jwks_url),
            ttl=settings.jwks_cache_seconds,
            refresh_interval=settings.jwks_refresh_interval_seconds,
        )
        algorithms = settings.jwt_algorithm_list
    else:
        keys = LocalSigningKey.load_or_create(settings.token_signing_key_path).key_source()
        algorithms = (LOCAL_ALGORITHM,)
    return TokenVerifier(
        keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        algorithms=algorithms,
        leeway=settings.jwt_leeway_seconds,
    )


_build_lock = threading.Lock()


def _verifier(request: Request) -> TokenVerifier:
    """One verifier per app, made on first use (its key cache must outlive requests)."""
    state = request.app.state
    verifier: TokenVerifier | None = getattr(state, "token_verifier", None)
    if verifier is None:
        with _build_lock:
            verifier = getattr(state, "token_verifier", None)
            if verifier is None:
                verifier = build_token_verifier(state.runtime.settings)
                state.token_verifier = verifier
    return verifier


_bearer = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    description="An OAuth2 access token (JWT). Required scopes are listed per operation.",
    auto_error=False,
)
_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\]')


def _challenge(error: str | None = None, description: str | None = None, scope: str = "") -> str:
    parts = [f'Bearer realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{_UNSAFE.sub("", description)}"')
    if scope:
        parts.append(f'scope="{scope}"')
    return ", ".join(parts)


def _unauthorized(detail: str, error: str | None = "invalid_token") -> HTTPException:
    description = detail if error else None
    return HTTPException(401, detail, {"WWW-Authenticate": _challenge(error, description)})


def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The caller behind the request's bearer token (401 if there is none or it is invalid)."""
    if credentials is None:
        if "authorization" in request.headers:
            raise _unauthorized("Authorization header must be 'Bearer <token>'", "invalid_request")
        # RFC 6750 §3.1: a request with no credentials gets a challenge without an error code.
        raise _unauthorized("a bearer token is required", None)
    try:
        verified = _verifier(request).verify(credentials.credentials)
    except TokenError as exc:
        raise _unauthorized(str(exc)) from None
    except JwksUnavailableError as exc:
        log.error("auth.keys_unavailable", error=str(exc))
        raise HTTPException(
            503, "token signing keys are unavailable; retry later", {"Retry-After": "5"}
        ) from None
    principal = Principal(verified.subject, verified.scopes, client_cert_name(request.scope))
    # The request log line (mds.api.middleware) names the caller.
    request.state.subject = principal.subject
    return principal


def require_scopes(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller must hold every scope given."""
    unknown = set(scopes) - set(ALL_SCOPES)
    if unknown:
        raise ValueError(f"unknown scope(s): {sorted(unknown)}")

    async def dependency(
        request: Request,
        credentials: Annotated[
            HTTPAuthorizationCredentials | None, Security(_bearer, scopes=list(scopes))
        ],
    ) -> Principal:
        # On the event loop: a sync dependency costs a thread hop per request, and under load
        # that hop stalled requests for up to seconds (bench/api.py). Only a JWKS issuer can
        # mean network I/O (a cache refresh), so that case still goes to a thread.
        if request.app.state.runtime.settings.jwks_url:
            principal = await run_in_threadpool(authenticate, request, credentials)
        else:
            principal = authenticate(request, credentials)
        missing = [s for s in scopes if not principal.has(s)]
        if missing:
            names = " ".join(missing)
            raise HTTPException(
                403,
                f"missing scope {names}",
                {"WWW-Authenticate": _challenge("insufficient_scope", None, names)},
            )
        return principal

    return dependency
