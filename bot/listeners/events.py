"""Events: the App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.listeners.common import Track
from bot.slack.home import home_view
from bot.store.base import Store
from bot.store.errors import UnreadableLinkError


def register(app: AsyncApp, track: Track) -> None:
    app.event("app_home_opened")(track(publish_home))


async def publish_home(event: dict[str, Any], store: Store, client: AsyncWebClient) -> None:
    if event.get("tab") not in (None, "home"):
        return
    user = event["user"]
    try:
        link = await store.link_for(user)
    except UnreadableLinkError:
        await store.mark_key_refused(user)
        view = home_view(None, key_works=False)
    else:
        refused = link is not None and link.key_refused_at is not None
        view = home_view(link.cflow_username if link else None, key_works=not refused)
    await client.views_publish(user_id=user, view=view)
