"""Reading Cflow's answers: loose but legal JSON into models, one bad record skipped.

The spec's bodies are loose (a list may come bare or under `data`, a write may answer
with the record, `{"success": true}` or nothing), so every answer is read here, the
same way for the client and for listings parsed off the event loop (bot.sync.poller).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from bot.cflow.errors import CflowMalformedResponseError
from bot.cflow.models import Request

log = logging.getLogger(__name__)
ModelT = TypeVar("ModelT", bound=BaseModel)
RecordFilter = Callable[[dict[str, Any]], bool]

LONG_DIGITS = re.compile(rb"\d{19,}")


def parse_requests(raw: bytes, keep: RecordFilter | None = None) -> list[Request]:
    """A listing's requests from its body (`list_requests_raw`), as `list_requests`."""
    return many(Request, body_json("listRequests", 200, raw), keep)


def body_json(operation: str, status: int, raw: bytes) -> Any:
    """The JSON of an answer's body (None for an empty one)."""
    if status == 204 or not raw.strip():
        return None
    try:
        return _loads(raw)
    except ValueError:
        raise CflowMalformedResponseError(
            "Cflow answered with something that is not JSON.", status=status, operation=operation
        ) from None


def _loads(raw: bytes) -> Any:
    """orjson (several times faster on big listings); the standard parser where a run of
    19 digits or more may be an integer beyond 64 bits, which orjson would turn into an
    inexact float (an id must stay exact)."""
    if LONG_DIGITS.search(raw):
        return json.loads(raw)
    return orjson.loads(raw)


def one(model: type[ModelT], data: Any, operation: str) -> ModelT:
    """One record, or CflowMalformedResponseError naming what was wrong (not its values)."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        log.warning("Cflow %s: unreadable %s: %s", operation, model.__name__, _summary(error))
        raise CflowMalformedResponseError(
            f"Cflow sent a {model.__name__.lower()} the bot could not read.", operation=operation
        ) from None


def written(data: Any, operation: str) -> Request | None:
    """What a successful write sent back, when it is a request record.

    Any 2xx means Cflow did it: the spec's response bodies are loose, and `{"success":
    true}` or an empty 204 are as legal as the record. The caller re-reads to render.
    """
    if data is None:
        return None
    try:
        return Request.model_validate(data)
    except ValidationError:
        log.info("Cflow %s succeeded without a request record in its answer", operation)
        return None


def many(model: type[ModelT], data: Any, keep: RecordFilter | None = None) -> list[ModelT]:
    """Parse a list, skipping (and logging) malformed records instead of failing all."""
    if isinstance(data, dict):
        data = next((data[key] for key in ("data", "items", "results") if key in data), data)
    if not isinstance(data, list):
        raise CflowMalformedResponseError(f"Cflow sent no list of {model.__name__.lower()}s.")
    items = []
    for index, item in enumerate(data):
        if keep is not None and isinstance(item, dict) and not keep(item):
            continue
        try:
            items.append(model.model_validate(item))
        except ValidationError as error:
            log.warning("Skipping malformed %s #%d: %s", model.__name__, index, _summary(error))
    return items


def _summary(error: ValidationError) -> str:
    """Which fields were wrong, without echoing values (they may be personal data)."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}"
        for e in error.errors(include_input=False, include_url=False)
    )
