"""The client certificate of an mTLS connection, made visible to the app.

uvicorn verifies client certificates (`ssl_cert_reqs=CERT_REQUIRED`) but does not put the peer
certificate into the ASGI scope. `TlsHttpProtocol` wraps uvicorn's HTTP protocol: when a
connection is made (asyncio calls `connection_made` only after the TLS handshake), it reads the
verified peer certificate once and adds the ASGI TLS extension (asgiref's spec:
`scope["extensions"]["tls"]` with `client_cert_name`, `client_cert_chain`, …) to every request on
that connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from typing import Any

from cryptography import x509
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.auto import AutoHTTPProtocol


def client_cert_name(scope: Scope) -> str | None:
    """The RFC 4514 subject of the verified client certificate, or None."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    name = tls.get("client_cert_name")
    return name if isinstance(name, str) else None


def tls_extension(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> dict[str, Any]:
    """The ASGI TLS extension for one connection (the client chain holds the leaf only:
    Python's ssl module before 3.13 cannot return the verified chain)."""
    der = ssl_object.getpeercert(binary_form=True)
    extension: dict[str, Any] = {
        "server_cert": None,
        "client_cert_chain": [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }
    if der:
        certificate = x509.load_der_x509_certificate(der)
        extension["client_cert_chain"] = [ssl.DER_cert_to_PEM_cert(der)]
        extension["client_cert_name"] = certificate.subject.rfc4514_string()
        # Not in the spec: a fingerprint pins the exact certificate in logs.
        extension["client_cert_sha256"] = hashlib.sha256(der).hexdigest()
    return extension


class _WithTls:
    """ASGI wrapper adding one connection's TLS extension to each of its scopes."""

    def __init__(self, app: ASGIApp, extension: dict[str, Any]) -> None:
        self.app = app
        self.extension = extension

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extensions = dict(scope.get("extensions") or {})
        extensions["tls"] = self.extension
        scope["extensions"] = extensions
        await self.app(scope, receive, send)


class TlsHttpProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol (h11 or httptools), plus the TLS extension on TLS connections."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            # h11 and httptools protocols read `self.app` when a request starts (uvicorn types
            # the auto class as a bare asyncio.Protocol, hence Any).
            protocol: Any = self
            protocol.app = _WithTls(protocol.app, tls_extension(ssl_object))
