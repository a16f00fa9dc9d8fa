"""Errors a use case raises for its caller to answer; the API turns each into a problem."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400
    title = "Bad Request"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFoundError(ServiceError):
    status = 404
    title = "Not Found"


class ConflictError(ServiceError):
    """The request is valid but the record's state does not allow it (now)."""

    status = 409
    title = "Conflict"


class InvalidFieldError(ServiceError):
    status = 422
    title = "Invalid request"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}", field=field)


class ForbiddenError(ServiceError):
    status = 403
    title = "Forbidden"
