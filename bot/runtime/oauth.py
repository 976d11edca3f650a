"""OAuth mode (issue 25, its first slice): workspaces install the app through Slack's
OAuth flow, and their installations are stored in the bot's own database.

The flow is Bolt's own (`AsyncOAuthFlow`): the install page with its "Add to Slack"
button and a fresh state, then the redirect, where the state is checked and consumed, the
code exchanged with `oauth.v2.access` and the installation saved. Serving the installed
workspaces (their events, the poller with their tokens) is not built yet, so this mode
serves only the install, the redirect and /healthz.
"""

from __future__ import annotations

import logging
import socket

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings
from bot.store import KeyBox, SqlStore, open_store
from bot.store.installations import InstallationStore, StateStore

log = logging.getLogger(__name__)
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# The bot scopes an install asks for: the manifest's (tests/test_manifest.py checks both).
BOT_SCOPES = (
    "channels:history",
    "channels:read",
    "chat:write",
    "commands",
    "groups:history",
    "groups:read",
    "im:history",
    "im:write",
    "links:read",
    "links:write",
    "users:read",
    "users:read.email",
)
FLOW = web.AppKey("oauth_flow", AsyncOAuthFlow)
STORE = web.AppKey("store", SqlStore)
NOT_SERVING = (
    "OAuth mode installs workspaces at %s; serving them (Slack's events and the poller) "
    "is being built (issue 25), so this instance answers no Slack request and polls nothing"
)


def oauth_flow(settings: Settings, store: SqlStore, http: aiohttp.ClientSession) -> AsyncOAuthFlow:
    """Bolt's flow over the store's engine; `oauth.v2.access` goes to SLACK_API_URL."""
    assert settings.slack_client_id and settings.slack_client_secret
    assert settings.slack_state_secret is not None
    redirect = settings.slack_redirect_uri
    oauth = AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=str(redirect) if redirect else None,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        authorization_url=str(settings.slack_authorize_url),
        installation_store=InstallationStore(
            settings.slack_client_id, store.engine, KeyBox(settings.secret_keys)
        ),
        state_store=StateStore(store.engine, settings.slack_state_secret),
        logger=log,
    )
    # No token: oauth.v2.access authenticates with the client id and secret. Its logger
    # stays above DEBUG, where slack-sdk would log the answer: a new workspace's token.
    quiet = logging.getLogger(f"{__name__}.exchange")
    quiet.setLevel(logging.INFO)
    client = AsyncWebClient(base_url=settings.slack_api_base, session=http, logger=quiet)
    return AsyncOAuthFlow(client=client, settings=oauth, logger=log)


def add_install_routes(web_app: web.Application, flow: AsyncOAuthFlow) -> None:
    web_app[FLOW] = flow
    web_app.router.add_get(INSTALL_PATH, install)
    web_app.router.add_get(REDIRECT_PATH, oauth_redirect)


async def install(request: web.Request) -> web.Response:
    """The "Add to Slack" page, with a fresh state in its link and in a cookie."""
    flow = request.app[FLOW]
    return await to_aiohttp_response(await flow.handle_installation(await to_bolt_request(request)))


async def oauth_redirect(request: web.Request) -> web.Response:
    """Slack sends the installing person back here: Bolt checks the state (cookie, then
    the state store, which consumes it), exchanges the code and saves the installation;
    any failure is its error page, with nothing stored."""
    flow = request.app[FLOW]
    return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))


async def healthz(request: web.Request) -> web.Response:
    """200 while the database answers: all this mode needs."""
    reachable = await request.app[STORE].ping()
    body = {"ok": reachable, "store": "ok" if reachable else "unreachable", "mode": "oauth"}
    return web.json_response(body, status=200 if reachable else 503)


class RunningInstaller:
    """`async with RunningInstaller(settings)`: OAuth mode's server, closed on exit."""

    def __init__(
        self,
        settings: Settings,
        *,
        host: str = "0.0.0.0",
        port: int | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        """`sock`: a socket already bound, for a test whose SLACK_REDIRECT_URI must name
        the port before the server starts."""
        self.settings = settings
        self.sock = sock
        self.host = host
        self.port = settings.port if port is None else port
        self.store: SqlStore | None = None
        self._http: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        assert self._runner is not None
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> RunningInstaller:
        settings = self.settings
        self.store = await open_store(settings.database_url, settings.secret_keys)
        self._http = aiohttp.ClientSession()
        web_app = web.Application()
        web_app[STORE] = self.store
        add_install_routes(web_app, oauth_flow(settings, self.store, self._http))
        web_app.router.add_get("/healthz", healthz)
        self._runner = web.AppRunner(web_app)
        try:
            await self._runner.setup()
            site: web.BaseSite = (
                web.SockSite(self._runner, self.sock)
                if self.sock is not None
                else web.TCPSite(self._runner, self.host, self.port)
            )
            await site.start()
        except BaseException:
            await self._close()
            raise
        log.info("Serving installs on %s%s", self.url, INSTALL_PATH)
        log.warning(NOT_SERVING, INSTALL_PATH)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._close()

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()
        if self.store is not None:
            await self.store.close()
