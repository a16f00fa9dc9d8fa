"""Verification keys by `kid`: a cached JWKS from the token issuer, or a fixed local set.

The cache refetches when its TTL runs out and when a token names a `kid` it does not hold (the
issuer rotated keys), but never more often than a minimum interval: tokens with random `kid`s
cannot turn this service into a load generator against the issuer.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.error import URLError
from urllib.parse import urlsplit

import structlog

from mds.security.errors import SecurityError

JwkDict = Mapping[str, Any]
Fetch = Callable[[], Mapping[str, Any]]

MAX_JWKS_BYTES = 1 << 20
FETCH_TIMEOUT_SECONDS = 5.0
log = structlog.get_logger("mds.security.jwks")


class JwksUnavailableError(SecurityError):
    """No verification keys could be obtained from the issuer."""


class KeySource(Protocol):
    """Returns the JWK with this `kid`, or None."""

    def get(self, kid: str) -> JwkDict | None: ...


class StaticKeys:
    """A fixed key set (the local signing key)."""

    def __init__(self, keys: Mapping[str, JwkDict]) -> None:
        self._keys = dict(keys)

    def get(self, kid: str) -> JwkDict | None:
        return self._keys.get(kid)


class JwksCache:
    """Signing keys from a JWKS document, refreshed on TTL expiry and on an unknown `kid`."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        ttl: float,
        refresh_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._keys: dict[str, JwkDict] = {}
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None
        # One fetch at a time: a burst of requests on a cold cache makes one call to the issuer.
        self._lock = threading.Lock()

    def get(self, kid: str) -> JwkDict | None:
        with self._lock:
            now = self._clock()
            if self._loaded_at is None or now - self._loaded_at >= self._ttl:
                self._refresh(now)
            key = self._keys.get(kid)
            if key is None and self._may_refetch(now):
                self._refresh(now)
                key = self._keys.get(kid)
            return key

    def _may_refetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._refresh_interval

    def _refresh(self, now: float) -> None:
        if not self._may_refetch(now):
            if self._loaded_at is None:
                raise JwksUnavailableError("token signing keys are unavailable; retry later")
            return
        self._attempted_at = now
        try:
            self._keys = parse_jwks(self._fetch())
        except (JwksUnavailableError, OSError, ValueError) as exc:
            if self._loaded_at is None:
                raise JwksUnavailableError(f"cannot load token signing keys: {exc}") from None
            # The issuer is down or answers garbage: keep verifying with the keys we have.
            log.warning("jwks.refresh_failed", error=str(exc))
            return
        self._loaded_at = now


def parse_jwks(document: Mapping[str, Any]) -> dict[str, JwkDict]:
    """The signature keys of a JWKS document, by `kid` (keys without one are unusable)."""
    keys = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(keys, list):
        raise JwksUnavailableError("JWKS document has no 'keys' array")
    usable: dict[str, JwkDict] = {}
    for key in keys:
        if not isinstance(key, Mapping):
            continue
        kid, use = key.get("kid"), key.get("use", "sig")
        if isinstance(kid, str) and kid and use == "sig":
            usable[kid] = key
    return usable


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        # The configured URL is the trust anchor; a redirect must not move it elsewhere.
        return None


def http_fetcher(url: str, timeout: float = FETCH_TIMEOUT_SECONDS) -> Fetch:
    """A fetch function for `JwksCache` that GETs `url` (http/https only, no redirects)."""
    if urlsplit(url).scheme not in {"http", "https"}:
        raise ValueError(f"JWKS URL must be http(s): {url}")
    opener = urllib.request.build_opener(_NoRedirects())

    def fetch() -> Mapping[str, Any]:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked above
        try:
            with opener.open(request, timeout=timeout) as response:
                body = response.read(MAX_JWKS_BYTES + 1)
        except (URLError, TimeoutError, http.client.HTTPException) as exc:
            raise JwksUnavailableError(f"GET {url} failed: {exc}") from None
        if len(body) > MAX_JWKS_BYTES:
            raise JwksUnavailableError(f"JWKS at {url} is larger than {MAX_JWKS_BYTES} bytes")
        document = json.loads(body)
        if not isinstance(document, dict):
            raise JwksUnavailableError(f"JWKS at {url} is not a JSON object")
        return document

    return fetch
