"""Logging: plain lines or JSON, each tagged with the request it concerns, secrets masked.

The request id (`workflowId/requestId`) travels in a context variable, so any log line
written while the bot works on a request, in any module, carries it without being
passed around. Known secret values are masked from every line, its traceback included,
as a last line of defence: the code never logs them on purpose, but a library may (aiohttp
quotes a malformed request line, with the hook's secret in its path, in its traceback).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

CURRENT_REQUEST: ContextVar[str | None] = ContextVar("cflow_request", default=None)
MASK = "[redacted]"
TRACEBACKS = logging.Formatter()  # formats a record's exception for masking, no more


@contextlib.contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Tag every log line written inside with `request_id`."""
    token = CURRENT_REQUEST.set(request_id)
    try:
        yield
    finally:
        CURRENT_REQUEST.reset(token)


class RequestTagger(logging.Filter):
    """Adds `request_id` and masks secrets in the final message and its traceback."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = CURRENT_REQUEST.get() or "-"
        record.msg, record.args = self._masked(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set: the masked text is what they print.
            record.exc_text = TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._masked(record.exc_text)
        if record.stack_info:
            record.stack_info = self._masked(record.stack_info)
        return True

    def _masked(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for log platforms that index fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # as RequestTagger masked it, when it has seen the record
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def _request_id(record: logging.LogRecord) -> str | None:
    value = getattr(record, "request_id", None)
    return None if value in (None, "-") else str(value)


PLAIN = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def configure_logging(
    level: str = "INFO", *, json_lines: bool = False, secrets: Iterable[str] = ()
) -> None:
    """Lines on stderr; quiet the chattiest libraries."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestTagger(secrets))
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(PLAIN))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    quiet = max(logging.getLevelName(level), logging.WARNING)
    for noisy in ("aiohttp.access", "slack_bolt", "slack_sdk"):
        logging.getLogger(noisy).setLevel(quiet)
