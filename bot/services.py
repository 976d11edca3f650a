"""The few long-lived objects a process shares, built once from the settings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.cflow import CflowClient, Credentials, create_session
from bot.directory import Directory
from bot.health import PollerHealth
from bot.inflight import InFlight
from bot.metrics import Metrics
from bot.publisher import Publisher
from bot.settings import Settings
from bot.store import open_store
from bot.store.base import Store

# Slack answers bursts with 429 and Retry-After: wait it out rather than drop a card.
SLACK_RATE_LIMIT_RETRIES = 20


@dataclass
class Services:
    settings: Settings
    http: aiohttp.ClientSession
    cflow: CflowClient
    service: Credentials
    store: Store
    slack: AsyncWebClient
    directory: Directory
    publisher: Publisher
    metrics: Metrics
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    in_flight: InFlight = field(default_factory=InFlight)
    poller_health: PollerHealth = field(default_factory=PollerHealth)

    def is_admin(self, slack_user_id: str) -> bool:
        return slack_user_id in self.settings.cflow_bot_admins

    async def close(self) -> None:
        await self.store.close()
        await self.http.close()


def slack_client(settings: Settings, http: aiohttp.ClientSession) -> AsyncWebClient:
    assert settings.slack_bot_token is not None
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_base,
        session=http,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=SLACK_RATE_LIMIT_RETRIES),
        ],
    )


async def build_services(settings: Settings) -> Services:
    """Open the HTTP session and the store; the caller owns `close()`."""
    http = create_session()
    try:
        store = await open_store(settings.database_url, settings.secret_keys)
    except BaseException:
        await http.close()
        raise
    metrics = Metrics()
    cflow = CflowClient(
        http,
        str(settings.cflow_base_url),
        timeout=settings.cflow_timeout,
        on_error=lambda error: metrics.cflow_errors.labels(type(error).__name__).inc(),
    )
    service = settings.service_credentials()
    slack = slack_client(settings, http)
    directory = Directory(cflow, service, slack, store)
    publisher = Publisher(
        slack,
        store,
        directory,
        request_url=settings.request_url,
        default_channel=settings.cflow_notify_channel,
        metrics=metrics,
    )
    return Services(settings, http, cflow, service, store, slack, directory, publisher, metrics)
