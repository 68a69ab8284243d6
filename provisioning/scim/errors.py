"""SCIM errors (RFC 7644 3.12): every failure leaves as the SCIM error schema with a scimType."""

from __future__ import annotations

from core.exceptions import ApplicationError

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(ApplicationError):
    scim_type: str | None = None
    http_status = 400

    def __init__(
        self, message: str, *, scim_type: str | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(message, http_status=http_status)
        if scim_type is not None:
            self.scim_type = scim_type

    def body(self) -> dict:
        body = {"schemas": [ERROR_SCHEMA], "status": str(self.http_status), "detail": self.message}
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


class InvalidFilter(ScimError):
    scim_type = "invalidFilter"


class InvalidValue(ScimError):
    scim_type = "invalidValue"


class InvalidSyntax(ScimError):
    scim_type = "invalidSyntax"


class InvalidPath(ScimError):
    scim_type = "invalidPath"


class NoTarget(ScimError):
    scim_type = "noTarget"


class Mutability(ScimError):
    scim_type = "mutability"


class TooMany(ScimError):
    scim_type = "tooMany"


class Uniqueness(ScimError):
    scim_type = "uniqueness"
    http_status = 409


class ResourceNotFound(ScimError):
    http_status = 404

    def __init__(self, message: str = "Resource not found.") -> None:
        super().__init__(message)


class Unauthorized(ScimError):
    http_status = 401

    def __init__(self, message: str = "A valid bearer token is required.") -> None:
        super().__init__(message)
