"""Opaque, stable cursors for lists that grow: the last item's sort key, base64url JSON."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Query

from mds.services.errors import InvalidFieldError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")]
Cursor = Annotated[
    str | None,
    Query(max_length=512, description="`next_cursor` of the previous page; omit for the first"),
]


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *parts: Callable[[Any], Any]) -> list[Any] | None:
    """The sort key inside a cursor, each part parsed; 422 naming `cursor` if not one of ours."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(key, list) or len(key) != len(parts):
            raise ValueError("wrong shape")
        return [parse(value) for parse, value in zip(parts, key, strict=True)]
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidFieldError("cursor", "not a cursor returned by this endpoint") from None
