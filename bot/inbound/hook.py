"""`POST /cflow/hook`: Cflow's rules tell the bot that something changed, so it looks now.

Cflow's rules engine can call an external REST endpoint from a form (its "Call External
API" action, e.g. on submit or on approval). The call is authenticated by
`CFLOW_HOOK_SECRET`, sent as the last path segment (`/cflow/hook/<secret>`), or in the
`X-Cflow-Hook-Secret` header, or as a bearer token, and compared in constant time. Its
body is only a hint: a workflow id (and a request id), in JSON or form encoding, under
the names Cflow's forms tend to use; anything else is ignored, and with no usable id
every workflow is read. The bot never takes state from it: it reads Cflow again. Each
source may send a burst of `BURST` hints and then `RATE` a second; it is answered at
once (202), before anything is read. A call without the secret, or with a body that is
not what its content type says, is refused (401, 400) and makes no Cflow call. The source
is the calling address; behind a proxy named in `CFLOW_TRUSTED_PROXIES`, the address that
proxy saw (`client_address`).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

HEADER = "X-Cflow-Hook-Secret"
FORWARDED_FOR = "X-Forwarded-For"
MAX_BODY = 16 * 1024
RATE = 5.0  # hints a second from one source, after its burst
BURST = 20
WORKFLOW_KEYS = ("workflowId", "workflow_id", "workflowID", "WorkflowId", "processId")
REQUEST_KEYS = ("requestId", "request_id", "requestID", "RequestId", "recordId", "id")
AN_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
HOST_PORT = re.compile(r"\[(?P<v6>[^\]]+)\](?::\d+)?|(?P<v4>[\d.]+):\d+")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Hint:
    workflow_id: str | None = None
    request_id: str | None = None


class Malformed(Exception):
    """The body is not what its content type says."""


def read_hint(content_type: str, body: bytes) -> Hint:
    """The ids a hook call carries, if any; Malformed when its JSON or form is broken."""
    if not body.strip():
        return Hint()
    if content_type == "application/json":
        try:
            data: Any = json.loads(body)
        except ValueError:
            raise Malformed("the body is not JSON") from None
    elif content_type == "application/x-www-form-urlencoded":
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise Malformed("the body is not a form") from None
        data = {key: values[0] for key, values in form.items()}
    else:
        return Hint()  # some other body: a reason to look, no more
    if not isinstance(data, dict):
        return Hint()
    return Hint(_an_id(data, WORKFLOW_KEYS), _an_id(data, REQUEST_KEYS))


def _an_id(data: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | str) and AN_ID.fullmatch(str(value)):
            return str(value)
    return None


def authentic(request: web.Request, secret: str) -> bool:
    """Whether the call carries the secret (path, header or bearer), in constant time."""
    bearer = request.headers.get("Authorization", "")
    given = (
        request.match_info.get("secret")
        or request.headers.get(HEADER)
        or (bearer[7:] if bearer[:7].lower() == "bearer " else "")
    )
    return hmac.compare_digest(given.encode(), secret.encode())


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[Network]
) -> str:
    """Whom a call counts against: the direct peer, unless it is a trusted proxy.

    Then it is the right-most X-Forwarded-For address that is not itself a trusted proxy:
    that one was written by a proxy we trust, while everything to its left is whatever the
    caller sent, so a caller cannot pick a fresh bucket per call. An untrusted peer's
    X-Forwarded-For is ignored for the same reason.
    """
    if peer is None or not _is_trusted(peer, trusted):
        return _shown(peer) if peer else "?"
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return _shown(hop)
    return _shown(hops[0]) if hops else _shown(peer)


def _address(text: str) -> Address | None:
    """An IP address, with or without a port ("[::1]:80", "10.0.0.1:5000"), or None."""
    text = text.strip()
    port = HOST_PORT.fullmatch(text)
    if port:
        text = port["v6"] or port["v4"]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address


def _is_trusted(text: str, trusted: Sequence[Network]) -> bool:
    address = _address(text)
    return address is not None and any(address in network for network in trusted)


def _shown(text: str) -> str:
    """One bucket per address however it is spelt; anything else as it came."""
    address = _address(text)
    return str(address) if address is not None else text
