"""Slack's OAuth v2 for the stand-in: the authorize page a person approves an install
on, and `oauth.v2.access`, which exchanges the code it redirects with for the bot token.

As Slack does: the app is known by its client id and secret and its Redirect URLs; a code
is good once and for 10 minutes, for the redirect URL it was issued for; the client's
credentials come as HTTP Basic auth or as form fields; the answer has Slack's shape.
The token an install yields is the workspace's own bot token, so that the bot's
`auth.test` right after the exchange (Bolt asks it the bot id) is answered.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp import web

from bot.devtools.slack_standin.records import Params, StandInError
from bot.devtools.slack_standin.workspace import Workspace

CODE_LIFETIME = 600.0  # seconds: Slack's codes expire after 10 minutes
METHODS = frozenset({"oauth.v2.access"})


@dataclass(frozen=True)
class OAuthApp:
    client_id: str
    client_secret: str
    redirect_urls: tuple[str, ...]


@dataclass
class Grant:
    """What one approval allowed: who, for which app, to come back to which URL."""

    client_id: str
    redirect_uri: str | None
    scopes: str
    user_id: str
    issued_at: float
    used: bool = False


@dataclass
class OAuth:
    workspace: Workspace
    clock: Callable[[], float] = time.monotonic
    installer: str = "U0INSTALLER"  # who approves installs on the authorize page
    apps: dict[str, OAuthApp] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)

    def register_app(
        self, client_id: str, client_secret: str, redirect_urls: tuple[str, ...] = ()
    ) -> None:
        """The app's Basic Information and its OAuth & Permissions Redirect URLs."""
        self.apps[client_id] = OAuthApp(client_id, client_secret, tuple(redirect_urls))

    def approve(self, authorize_url: str) -> str:
        """The installer clicks Allow: the URL Slack redirects the browser to, with a
        fresh code and the state the app sent."""
        query = dict(parse_qsl(urlsplit(authorize_url).query))
        app = self.apps.get(query.get("client_id", ""))
        if app is None:
            raise StandInError("invalid_client_id")
        given = query.get("redirect_uri")
        if given is not None and not any(given.startswith(url) for url in app.redirect_urls):
            raise StandInError("bad_redirect_uri")
        redirect = given or (app.redirect_urls[0] if app.redirect_urls else None)
        if redirect is None:
            raise StandInError("no_redirect_uri")
        code = f"{self.workspace.team_id}.{secrets.token_hex(12)}"
        scopes = query.get("scope", "")
        self.grants[code] = Grant(app.client_id, given, scopes, self.installer, self.clock())
        back = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        return f"{redirect}{'&' if '?' in redirect else '?'}{urlencode(back)}"

    def access(self, params: Params) -> Params:
        """`oauth.v2.access`: the code for the bot token, in Slack's answer shape."""
        app = self.apps.get(str(params.get("client_id", "")))
        if app is None:
            raise StandInError("invalid_client_id")
        if params.get("client_secret") != app.client_secret:
            raise StandInError("bad_client_secret")
        grant = self.grants.get(str(params.get("code", "")))
        expired = grant is not None and self.clock() - grant.issued_at > CODE_LIFETIME
        if grant is None or grant.used or expired or grant.client_id != app.client_id:
            raise StandInError("invalid_code")
        if grant.redirect_uri is not None and params.get("redirect_uri") != grant.redirect_uri:
            raise StandInError("bad_redirect_uri")
        grant.used = True
        return self._answer(grant)

    def _answer(self, grant: Grant) -> Params:
        workspace = self.workspace
        return {
            "access_token": workspace.bot_token,
            "token_type": "bot",
            "scope": grant.scopes,
            "bot_user_id": workspace.bot_user_id,
            "app_id": workspace.app_id,
            "team": {"name": workspace.team_name, "id": workspace.team_id},
            "enterprise": None,
            "authed_user": {"id": grant.user_id},
            "is_enterprise_install": False,
        }

    async def authorize_page(self, request: web.Request) -> web.Response:
        """GET /oauth/v2/authorize: approved at once by `installer` (the playground's and a
        browser test's click on Allow); a refused request is Slack's error page."""
        try:
            location = self.approve(str(request.url))
        except StandInError as error:
            return web.Response(status=400, text=f"Slack could not install the app: {error.error}")
        raise web.HTTPFound(location)


def client_credentials(authorization: str) -> Params:
    """client_id and client_secret from an HTTP Basic Authorization header, as slack-sdk
    sends them (Slack takes them as form fields too)."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return {}
    try:
        client_id, _, secret = base64.b64decode(encoded.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return {}
    return {"client_id": client_id, "client_secret": secret}
