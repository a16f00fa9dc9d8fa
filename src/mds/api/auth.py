"""Who is calling and what they may do: bearer tokens checked, scopes required per endpoint.

INTERFACE STUB (to be replaced by the real JWT/JWKS implementation): routes depend on
`require_scopes(...)` and receive a `Principal`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

READ = "mds:read"
READ_PII = "mds:read:pii"
WRITE = "mds:write"
REVIEW = "mds:review"
ADMIN = "mds:admin"
ALL_SCOPES = (READ, READ_PII, WRITE, REVIEW, ADMIN)


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    scopes: frozenset[str]
    client_certificate: str | None = None

    def has(self, scope: str) -> bool:
        return scope in self.scopes or ADMIN in self.scopes

    @property
    def can_read_pii(self) -> bool:
        return self.has(READ_PII)


def require_scopes(*scopes: str) -> Callable[[Request], Principal]:
    """A dependency: the caller must hold every scope given."""

    def dependency(request: Request) -> Principal:
        return Principal("anonymous", frozenset(ALL_SCOPES))

    return dependency
