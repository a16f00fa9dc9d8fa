"""The OAuth scopes the API knows (README, Authentication): what a token may be granted."""

from __future__ import annotations

READ = "mds:read"
READ_PII = "mds:read:pii"
WRITE = "mds:write"
REVIEW = "mds:review"
ADMIN = "mds:admin"
ALL_SCOPES = (READ, READ_PII, WRITE, REVIEW, ADMIN)
