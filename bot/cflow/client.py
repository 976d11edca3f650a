"""An async client for Cflow's REST API: one method per operation of openapi.yaml.

Every call goes through `_request()`: credentials come per call (never stored here),
parallel calls are bounded, each attempt has a timeout, and only idempotent calls are
retried. Approve, reject, create, draft and delete are never retried: a retried
approve could approve the *next* stage too. When such a call fails ambiguously the
error carries `may_have_succeeded=True` so the caller re-reads the request.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.cflow.errors import (
    CflowError,
    CflowRateLimitedError,
    CflowServerError,
    CflowUnavailableError,
    error_for_status,
)
from bot.cflow.models import Credentials, Request, Role, User, Workflow
from bot.cflow.reading import RecordFilter, body_json, many, one, parse_requests, written

log = logging.getLogger(__name__)
API = "/integromat/api/cflow"


@dataclass(frozen=True)
class Operation:
    """One operation of the spec: how to call it and whether a retry is safe."""

    id: str
    method: str
    path: str
    idempotent: bool


OPERATIONS = {
    op.id: op
    for op in (
        Operation("getWorkflows", "GET", "/getworkflows", True),
        Operation("getWorkflow", "GET", "/workflows/{workflowId}", True),
        Operation("listRequests", "GET", "/workflows/{workflowId}/requests", True),
        Operation("createRequest", "POST", "/workflows/{workflowId}/requests", False),
        Operation("getRequest", "GET", "/workflows/{workflowId}/requests/{requestId}", True),
        Operation("updateRequest", "PUT", "/workflows/{workflowId}/requests/{requestId}", True),
        Operation("deleteRequest", "DELETE", "/workflows/{workflowId}/requests/{requestId}", False),
        Operation(
            "approveRequest", "POST", "/workflows/{workflowId}/requests/{requestId}/approve", False
        ),
        Operation(
            "rejectRequest", "POST", "/workflows/{workflowId}/requests/{requestId}/reject", False
        ),
        Operation("createDraftRequest", "POST", "/workflows/{workflowId}/drafts", False),
        Operation("listUsers", "GET", "/users", True),
        Operation("listRoles", "GET", "/roles", True),
    )
}


@dataclass(frozen=True)
class RetryPolicy:
    """Jittered exponential backoff for idempotent calls, bounded in attempts and time."""

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 8.0
    total: float = 20.0
    statuses: frozenset[int] = field(default=frozenset({429, 500, 502, 503, 504}))

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt `attempt + 1`; Cflow's Retry-After wins."""
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def allows(self, error: CflowError) -> bool:
        if isinstance(error, CflowUnavailableError):
            return True
        return error.status in self.statuses


NO_RETRY = RetryPolicy(attempts=1)
Sleep = Callable[[float], Awaitable[None]]


class CflowClient:
    """Cflow's 12 operations as typed async methods over one shared aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy = RetryPolicy(),
        max_concurrency: int = 32,
        sleep: Sleep = asyncio.sleep,
        on_error: Callable[[CflowError], None] | None = None,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/") + API
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retry = retry
        self._slots = asyncio.Semaphore(max_concurrency)
        self._sleep = sleep
        self._on_error = on_error

    # Workflows

    async def list_workflows(self, creds: Credentials) -> list[Workflow]:
        return many(Workflow, await self._request("getWorkflows", creds))

    async def get_workflow(self, creds: Credentials, workflow_id: str) -> Workflow:
        data = await self._request("getWorkflow", creds, workflowId=workflow_id)
        return one(Workflow, data, "getWorkflow")

    # Requests

    async def list_requests(
        self, creds: Credentials, workflow_id: str, *, keep: RecordFilter | None = None
    ) -> list[Request]:
        """The workflow's requests; `keep` drops raw records before they are parsed.

        The poller only needs pending and already-tracked requests, typically a small
        share of a listing, and parsing is most of a cycle's CPU: it runs in a thread,
        so that a large listing never holds up the event loop (and every acknowledgement).
        """
        raw = await self.list_requests_raw(creds, workflow_id)
        return await asyncio.to_thread(parse_requests, raw, keep)

    async def list_requests_raw(self, creds: Credentials, workflow_id: str) -> bytes:
        """The listing's body as Cflow sent it (for the poller, which parses only a
        listing that changed: `parse_requests`)."""
        raw: bytes = await self._request(
            "listRequests", creds, decode=False, workflowId=workflow_id
        )
        return raw

    async def get_request(self, creds: Credentials, workflow_id: str, request_id: str) -> Request:
        data = await self._request(
            "getRequest", creds, workflowId=workflow_id, requestId=request_id
        )
        return one(Request, data, "getRequest")

    async def create_request(
        self, creds: Credentials, workflow_id: str, fields: Mapping[str, Any]
    ) -> Request | None:
        """The new request; None when Cflow accepted it but sent no record back."""
        body = {"fields": dict(fields)}
        data = await self._request("createRequest", creds, body=body, workflowId=workflow_id)
        return written(data, "createRequest")

    async def create_draft(
        self, creds: Credentials, workflow_id: str, fields: Mapping[str, Any]
    ) -> Request | None:
        body = {"fields": dict(fields)}
        data = await self._request("createDraftRequest", creds, body=body, workflowId=workflow_id)
        return written(data, "createDraftRequest")

    async def update_request(
        self, creds: Credentials, workflow_id: str, request_id: str, fields: Mapping[str, Any]
    ) -> Request | None:
        data = await self._request(
            "updateRequest",
            creds,
            body={"fields": dict(fields)},
            workflowId=workflow_id,
            requestId=request_id,
        )
        return written(data, "updateRequest")

    async def delete_request(self, creds: Credentials, workflow_id: str, request_id: str) -> None:
        await self._request("deleteRequest", creds, workflowId=workflow_id, requestId=request_id)

    async def approve_request(
        self,
        creds: Credentials,
        workflow_id: str,
        request_id: str,
        *,
        comment: str | None = None,
        reassign_to: str | None = None,
    ) -> Request | None:
        """The request as it now is; None when Cflow accepted but sent no record back."""
        return await self._decide(
            "approveRequest", creds, workflow_id, request_id, comment, reassign_to
        )

    async def reject_request(
        self,
        creds: Credentials,
        workflow_id: str,
        request_id: str,
        *,
        comment: str | None = None,
        reassign_to: str | None = None,
    ) -> Request | None:
        return await self._decide(
            "rejectRequest", creds, workflow_id, request_id, comment, reassign_to
        )

    # Users

    async def list_users(self, creds: Credentials) -> list[User]:
        return many(User, await self._request("listUsers", creds))

    async def list_roles(self, creds: Credentials) -> list[Role]:
        return many(Role, await self._request("listRoles", creds))

    # Plumbing

    async def _decide(
        self,
        operation: str,
        creds: Credentials,
        workflow_id: str,
        request_id: str,
        comment: str | None,
        reassign_to: str | None,
    ) -> Request | None:
        body = {"comment": comment, "reassignTo": reassign_to}
        body = {key: value for key, value in body.items() if value is not None}
        data = await self._request(
            operation, creds, body=body, workflowId=workflow_id, requestId=request_id
        )
        return written(data, operation)

    async def _request(
        self,
        operation: str,
        creds: Credentials,
        *,
        body: Any = None,
        decode: bool = True,
        **path: str,
    ) -> Any:
        """Send one operation, retrying only where the policy and the operation allow;
        its JSON, or with `decode` False its body as bytes."""
        op = OPERATIONS[operation]
        policy = self._retry if op.idempotent else NO_RETRY
        deadline = time.monotonic() + policy.total
        for attempt in range(1, policy.attempts + 1):
            try:
                return await self._attempt(op, creds, body, path, decode)
            except CflowError as error:
                delay = policy.delay(attempt, getattr(error, "retry_after", None))
                last = attempt == policy.attempts or time.monotonic() + delay > deadline
                if last or not policy.allows(error):
                    if self._on_error is not None:
                        self._on_error(error)
                    raise
                log.warning(
                    "Cflow %s failed (%s); retry %d in %.2fs", op.id, error.message, attempt, delay
                )
                await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt raises")

    async def _attempt(
        self,
        op: Operation,
        creds: Credentials,
        body: Any,
        path: Mapping[str, str],
        decode: bool = True,
    ) -> Any:
        url = self._base_url + op.path.format(
            **{k: quote(str(v), safe="") for k, v in path.items()}
        )
        started = time.monotonic()
        async with self._slots:
            status, raw, headers = await self._send(op, url, creds, body)
        log.debug(
            "Cflow %s as %s -> %s in %.0f ms",
            op.id,
            creds.username,
            status,
            (time.monotonic() - started) * 1000,
        )
        if status >= 400:
            raise _http_error(op, status, raw, headers)
        return body_json(op.id, status, raw) if decode else raw

    async def _send(
        self, op: Operation, url: str, creds: Credentials, body: Any
    ) -> tuple[int, bytes, Mapping[str, str]]:
        headers = {**creds.headers(), "Accept": "application/json"}
        try:
            async with self._session.request(
                op.method, url, json=body, headers=headers, timeout=self._timeout
            ) as response:
                return response.status, await response.read(), response.headers
        except TimeoutError:
            raise CflowUnavailableError(
                f"Cflow did not answer within {self._timeout.total:g} s.",
                operation=op.id,
                may_have_succeeded=not op.idempotent,
            ) from None
        except aiohttp.ClientConnectorError:
            # Nothing was sent: the connection itself failed.
            raise CflowUnavailableError("Could not connect to Cflow.", operation=op.id) from None
        except aiohttp.ClientError as error:
            raise CflowUnavailableError(
                f"The connection to Cflow failed ({type(error).__name__}).",
                operation=op.id,
                may_have_succeeded=not op.idempotent,
            ) from None


def _http_error(op: Operation, status: int, raw: bytes, headers: Mapping[str, str]) -> CflowError:
    error = error_for_status(status, raw, operation=op.id, retry_after=_retry_after(headers))
    if isinstance(error, CflowServerError) and not op.idempotent:
        # A 5xx after an approve may come from a proxy while Cflow recorded it.
        error.may_have_succeeded = True
    if isinstance(error, CflowRateLimitedError):
        error.may_have_succeeded = False
    return error


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def create_session() -> aiohttp.ClientSession:
    """The one HTTP session a process shares for Cflow (connection pooling, keep-alive)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=64, ttl_dns_cache=300),
        raise_for_status=False,
    )
