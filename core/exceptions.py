"""The one error family every layer raises; the boundaries (views, the DRF handler, commands)
map it to a page, a SCIM error body or an exit status."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A failure with a stable ``code`` that is safe to show to the person who caused it.

    ``message`` is for people (no library text, no stack traces); ``extra`` carries the detail
    that goes to the log and the audit event only.
    """

    code = "error"
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status
        self.extra = extra or {}

    def __str__(self) -> str:
        return self.message


class ValidationFailed(ApplicationError):
    """Input that breaks a rule; the message says which rule."""

    code = "invalid"
    http_status = 400

    @classmethod
    def from_django(cls, error: Any) -> ValidationFailed:
        """Flatten a Django ``ValidationError`` into one readable line."""
        if hasattr(error, "message_dict"):
            parts = []
            for field, messages in error.message_dict.items():
                text = " ".join(messages)
                parts.append(text if field == "__all__" else f"{field}: {text}")
            return cls("; ".join(parts), extra={"fields": error.message_dict})
        return cls(" ".join(error.messages))


class NotFound(ApplicationError):
    code = "not_found"
    http_status = 404


class Conflict(ApplicationError):
    code = "conflict"
    http_status = 409
