"""Events: the App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import Services
from bot.slack.blocks import home_view
from bot.slack.listeners.common import Track


def register(app: AsyncApp, track: Track) -> None:
    app.event("app_home_opened")(track(publish_home))


async def publish_home(event: dict[str, Any], services: Services, client: AsyncWebClient) -> None:
    if event.get("tab") not in (None, "home"):
        return
    link = await services.store.link_for(event["user"])
    view = home_view(link.cflow_username if link else None)
    await client.views_publish(user_id=event["user"], view=view)
