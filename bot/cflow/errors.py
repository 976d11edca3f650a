"""What can go wrong when calling Cflow, as a small hierarchy callers can act on.

Listeners catch `CflowError` once and show `error.message` (Cflow's own words where
it gave any); `may_have_succeeded` tells them to re-read the request before saying
anything, because a timed-out approve may still have been recorded.
"""

from __future__ import annotations

import json
from typing import Any

MAX_MESSAGE = 500


class CflowError(Exception):
    """Base of every Cflow failure. `message` is safe to show to a person."""

    default_message = "Cflow could not complete the request."

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        operation: str | None = None,
        may_have_succeeded: bool = False,
    ) -> None:
        self.message = message or self.default_message
        self.status = status
        self.operation = operation
        self.may_have_succeeded = may_have_succeeded
        super().__init__(self.message)


class CflowUnauthorizedError(CflowError):
    default_message = "Cflow did not accept the API key, username or user key."


class CflowForbiddenError(CflowError):
    default_message = "Cflow says this account may not do that."


class CflowNotFoundError(CflowError):
    default_message = "Cflow could not find that workflow or request."


class CflowRejectedError(CflowError):
    """Cflow refused the input (400/409/422 …); `message` is Cflow's own explanation."""

    default_message = "Cflow refused the request."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.field_errors: dict[str, str] = kwargs.pop("field_errors", None) or {}
        super().__init__(message, **kwargs)


class CflowRateLimitedError(CflowError):
    default_message = "Cflow is busy right now; try again in a moment."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.retry_after: float | None = kwargs.pop("retry_after", None)
        super().__init__(message, **kwargs)


class CflowServerError(CflowError):
    default_message = "Cflow had an internal error."


class CflowUnavailableError(CflowError):
    """Timed out or unreachable."""

    default_message = "Cflow did not answer in time."


class CflowMalformedResponseError(CflowError):
    default_message = "Cflow sent an answer the bot could not read."


def error_for_status(
    status: int, body: bytes, *, operation: str, retry_after: float | None = None
) -> CflowError:
    """Map an HTTP error status and body to the error class callers handle."""
    message, field_errors = cflow_message(body)
    kwargs: dict[str, Any] = {"status": status, "operation": operation}
    if status == 401:
        return CflowUnauthorizedError(message, **kwargs)
    if status == 403:
        return CflowForbiddenError(message, **kwargs)
    if status == 404:
        return CflowNotFoundError(message, **kwargs)
    if status == 429:
        return CflowRateLimitedError(message, retry_after=retry_after, **kwargs)
    if 400 <= status < 500:
        return CflowRejectedError(message, field_errors=field_errors, **kwargs)
    return CflowServerError(message, **kwargs)


def cflow_message(body: bytes) -> tuple[str | None, dict[str, str]]:
    """Cflow's own words from an error body, whatever its shape (JSON or plain text)."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return None, {}
    try:
        data = json.loads(text)
    except ValueError:
        return _shorten(text), {}
    return _message_from_json(data), _field_errors(data)


def _message_from_json(data: Any) -> str | None:
    if isinstance(data, str):
        return _shorten(data)
    if not isinstance(data, dict):
        return None
    for key in ("message", "error_description", "error", "detail", "title", "msg"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return _shorten(value.strip())
        if isinstance(value, dict):
            return _message_from_json(value)
    return None


def _field_errors(data: Any) -> dict[str, str]:
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, dict):
        return {}
    return {str(key): _shorten(str(value)) for key, value in errors.items()}


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
