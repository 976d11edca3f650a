"""Slack's OAuth install (issue 25, first slice), through the running installer over
HTTP: the install page, Slack's authorize page (the stand-in's), the redirect with its
state and code, `oauth.v2.access` on the Slack stand-in, and the installation read back
from slack-sdk's store on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from playwright.async_api import Browser, async_playwright, expect
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select

from bot.devtools.slack_standin.slack import SlackStandIn
from bot.runtime.oauth import BOT_SCOPES, RunningInstaller
from bot.settings import Settings, SettingsError, load_settings
from bot.store import KeyBox, make_engine, schema
from bot.store.installations import InstallationStore
from tests.harness import cli_environment, run_cli_async, spawn

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "s3cr3t-client-secret"
STATE_SECRET = "a-state-secret-of-our-own-7c1d"
COOKIE = "slack-app-oauth-state"
# As long as a refresh token of token rotation: encrypted, it outgrows VARCHAR(200).
LONG_TOKEN = "xoxb-1234567890123-1234567890123-" + "a" * 120
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "oauth-install.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LINK = re.compile(r'href="([^"]+/oauth/v2/authorize\?[^"]+)"')


@dataclass
class Install:
    url: str
    slack: SlackStandIn
    settings: Settings
    browser: aiohttp.ClientSession

    @property
    def redirect_uri(self) -> str:
        return f"{self.url}/slack/oauth_redirect"

    async def page(self) -> tuple[str, str]:
        """The install page: its authorize link, and the state its cookie holds."""
        async with self.browser.get(f"{self.url}/slack/install") as page:
            assert page.status == 200
            html = await page.text()
            cookie = page.cookies.get(COOKIE)
        found = LINK.search(html)
        assert found, html
        # Secure, as it must be behind https: a client over plain http keeps but never
        # sends it, so the tests send it as the browser would (`redirect`).
        assert cookie is not None and cookie["secure"] and cookie["httponly"]
        return found[1].replace("&amp;", "&"), cookie.value

    async def allow(self, link: str) -> str:
        """The installer clicks Allow on Slack's page: the redirect's query."""
        async with self.browser.get(link, allow_redirects=False) as slack:
            assert slack.status == 302
            location = slack.headers["Location"]
        assert location.startswith(self.redirect_uri + "?")
        return urlsplit(location).query

    async def redirect(self, query: str, state: str) -> tuple[int, str]:
        """The redirect as a browser whose cookie holds `state` sends it."""
        headers = {"Cookie": f"{COOKIE}={state}"}
        url = f"{self.redirect_uri}?{query}"
        async with (
            aiohttp.ClientSession() as fresh,  # no cookie jar: exactly these headers
            fresh.get(url, headers=headers) as answer,
        ):
            return answer.status, await answer.text()

    async def installations(self) -> int:
        engine = make_engine(self.settings.database_url)
        try:
            async with engine.connect() as conn:
                rows = [
                    await conn.scalar(select(func.count()).select_from(table))
                    for table in (schema.slack_installations, schema.slack_bots)
                ]
        finally:
            await engine.dispose()
        assert rows[0] == rows[1]
        return int(rows[0] or 0)


@pytest.fixture
async def install(database_url: str, key: str) -> AsyncIterator[Install]:
    """The installer on a port known before it starts (SLACK_REDIRECT_URI names it), and
    the Slack stand-in with the app registered and that redirect URL listed."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with SlackStandIn(LONG_TOKEN) as slack:
        slack.oauth.register_app(CLIENT_ID, CLIENT_SECRET, (f"{url}/slack/oauth_redirect",))
        settings = load_settings(
            None,
            slack_client_id=CLIENT_ID,
            slack_client_secret=CLIENT_SECRET,
            slack_state_secret=STATE_SECRET,
            slack_redirect_uri=f"{url}/slack/oauth_redirect",
            slack_authorize_url=slack.authorize_url,
            slack_api_url=slack.api_url,
            database_url=database_url,
            cflow_bot_secret_key=key,
        )
        async with (
            RunningInstaller(settings, sock=sock) as running,
            aiohttp.ClientSession() as browser,
        ):
            assert running.url == url
            yield Install(url, slack, settings, browser)


async def test_the_install_page_links_to_slack_with_client_id_scopes_redirect_and_state(
    install: Install,
) -> None:
    link, state = await install.page()
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == install.slack.authorize_url
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert query["client_id"] == CLIENT_ID
    assert query["scope"].split(",") == list(BOT_SCOPES)
    assert query["redirect_uri"] == install.redirect_uri
    assert query["state"] == state
    _, second = await install.page()
    assert second != state, "each visit gets a fresh state"


async def test_the_whole_flow_stores_the_installation_with_its_token_encrypted(
    install: Install, key: str
) -> None:
    link, state = await install.page()
    status, page = await install.redirect(await install.allow(link), state)
    assert status == 200
    assert "Thank you" in page
    [exchange] = install.slack.calls("oauth.v2.access")
    assert exchange.params["client_id"] == CLIENT_ID  # sent as Slack takes it
    assert exchange.params["redirect_uri"] == install.redirect_uri
    assert not exchange.failed
    engine = make_engine(install.settings.database_url)
    try:
        store = InstallationStore(CLIENT_ID, engine, KeyBox([key]))
        bot = await store.async_find_bot(enterprise_id=None, team_id=install.slack.team_id)
        installation = await store.async_find_installation(
            enterprise_id=None, team_id=install.slack.team_id
        )
        async with engine.connect() as conn:
            raw = await conn.scalar(select(schema.slack_bots.c.bot_token))
    finally:
        await engine.dispose()
    assert bot is not None and installation is not None
    assert bot.bot_token == install.slack.bot_token
    assert bot.bot_user_id == install.slack.bot_user_id
    assert bot.bot_id == install.slack.bot_id  # Bolt asked auth.test with the new token
    assert bot.team_id == install.slack.team_id
    assert installation.user_id == install.slack.oauth.installer
    assert installation.bot_scopes == list(BOT_SCOPES)
    assert raw and install.slack.bot_token not in raw, "the token is encrypted at rest"
    assert await install.installations() == 1


async def test_a_forged_state_is_refused_without_asking_slack(install: Install) -> None:
    await install.page()
    status, page = await install.redirect("code=any&state=made.up", "made.up")
    assert status == 401
    assert "invalid_state" in page
    # A browser without the state's cookie is refused before the state is read.
    status, _ = await install.redirect("code=any&state=made.up", "another")
    assert status == 400
    assert install.slack.calls("oauth.v2.access") == []
    assert await install.installations() == 0


async def test_a_used_state_is_refused_the_second_time(install: Install) -> None:
    link, state = await install.page()
    query = await install.allow(link)
    status, _ = await install.redirect(query, state)
    assert status == 200
    status, page = await install.redirect(query, state)
    assert status == 401
    assert "invalid_state" in page
    assert len(install.slack.calls("oauth.v2.access")) == 1
    assert await install.installations() == 1


async def test_a_failed_exchange_shows_an_error_page_and_stores_nothing(
    install: Install,
) -> None:
    _, state = await install.page()
    status, page = await install.redirect(f"code=not-a-code&state={state}", state)
    assert status == 401
    assert "invalid_code" in page
    assert "Traceback" not in page
    [exchange] = install.slack.calls("oauth.v2.access")
    assert exchange.error == "invalid_code"
    assert await install.installations() == 0


async def test_healthz_answers_in_oauth_mode(install: Install) -> None:
    async with install.browser.get(f"{install.url}/healthz") as health:
        assert health.status == 200
        assert (await health.json())["mode"] == "oauth"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        message = "no chromium: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        await launched.close()


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_person_installs_from_a_real_browser(install: Install, browser: Browser) -> None:
    """Chromium keeps the Secure state cookie for 127.0.0.1 (a trustworthy origin), so the
    whole flow runs as it does behind https."""
    page = await browser.new_page(viewport={"width": 900, "height": 260})
    await page.goto(f"{install.url}/slack/install")
    button = page.locator("a", has=page.locator("img[alt='Add to Slack']"))
    await expect(button).to_be_visible()
    shot = await page.screenshot()  # the README's picture: kept when asked, or when none
    assert shot.startswith(b"\x89PNG")
    if os.environ.get("UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(shot)
    await button.click()
    await expect(page.locator("body")).to_contain_text("Thank you", timeout=10_000)
    assert page.url.startswith(install.redirect_uri)
    assert await install.installations() == 1
    await page.close()


# -- the Slack stand-in's oauth.v2.access, as slack-sdk calls it ---------------------


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn() as standin:
        standin.oauth.register_app(CLIENT_ID, CLIENT_SECRET, ("https://bot.example/back",))
        yield standin


def _code(slack: SlackStandIn, redirect_uri: str | None = None) -> str:
    query = f"client_id={CLIENT_ID}&scope=chat:write&state=s"
    if redirect_uri:
        query += f"&redirect_uri={redirect_uri}"
    back = slack.oauth.approve(f"{slack.authorize_url}?{query}")
    return parse_qs(urlsplit(back).query)["code"][0]


async def _exchange(slack: SlackStandIn, **kwargs: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as http:
        client = AsyncWebClient(base_url=slack.api_url, session=http)
        return dict((await client.oauth_v2_access(**kwargs)).data)  # type: ignore[arg-type]


async def test_standin_codes_are_good_once_with_slacks_answer(slack: SlackStandIn) -> None:
    code = _code(slack)
    answer = await _exchange(slack, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code)
    assert answer["access_token"] == slack.bot_token
    assert answer["token_type"] == "bot"
    assert answer["team"] == {"id": slack.team_id, "name": slack.team_name}
    assert answer["authed_user"] == {"id": slack.oauth.installer}
    assert answer["is_enterprise_install"] is False
    with pytest.raises(SlackApiError) as again:
        await _exchange(slack, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code)
    assert again.value.response["error"] == "invalid_code"


async def test_standin_checks_the_secret_and_the_redirect(slack: SlackStandIn) -> None:
    code = _code(slack, "https://bot.example/back")
    with pytest.raises(SlackApiError) as secret:
        await _exchange(slack, client_id=CLIENT_ID, client_secret="wrong", code=code)
    assert secret.value.response["error"] == "bad_client_secret"
    with pytest.raises(SlackApiError) as redirect:
        await _exchange(
            slack,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            code=code,
            redirect_uri="https://elsewhere.example/",
        )
    assert redirect.value.response["error"] == "bad_redirect_uri"


async def test_standin_takes_the_credentials_as_form_fields_too(slack: SlackStandIn) -> None:
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": _code(slack)}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{slack.api_url}oauth.v2.access", data=form) as answer,
    ):
        body = await answer.json()
    assert body["ok"] is True
    assert body["bot_user_id"] == slack.bot_user_id
    assert body["app_id"] == slack.app_id


async def test_standin_codes_expire_after_ten_minutes() -> None:
    now = [0.0]
    async with SlackStandIn(clock=lambda: now[0]) as slack:
        slack.oauth.register_app(CLIENT_ID, CLIENT_SECRET, ("https://bot.example/back",))
        code = _code(slack)
        now[0] += 601
        with pytest.raises(SlackApiError) as late:
            await _exchange(slack, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code)
    assert late.value.response["error"] == "invalid_code"


# -- settings ---------------------------------------------------------------------------


def test_a_partial_oauth_setting_names_what_is_missing() -> None:
    with pytest.raises(SettingsError) as partial:
        load_settings(None, slack_client_id=CLIENT_ID, slack_state_secret=STATE_SECRET)
    assert set(partial.value.problems) == {"SLACK_CLIENT_SECRET"}
    assert STATE_SECRET not in str(partial.value)


def test_a_bot_token_beside_oauth_is_refused_by_name() -> None:
    with pytest.raises(SettingsError) as both:
        load_settings(
            None,
            slack_client_id=CLIENT_ID,
            slack_client_secret=CLIENT_SECRET,
            slack_state_secret=STATE_SECRET,
            slack_bot_token="xoxb-one-workspace",
        )
    assert set(both.value.problems) == {"SLACK_BOT_TOKEN"}
    assert "SLACK_CLIENT_ID" in str(both.value)


def test_without_oauth_settings_nothing_changes() -> None:
    assert not load_settings(None).oauth_mode


async def test_check_names_the_missing_oauth_variable(tmp_path: Path) -> None:
    env = cli_environment({"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET})
    status, out, err = await run_cli_async("check", env=env, cwd=tmp_path)
    assert status != 0
    assert "SLACK_STATE_SECRET" in out + err
    assert CLIENT_SECRET not in out + err
    assert "Traceback" not in out + err


async def test_serve_in_oauth_mode_installs_and_says_it_serves_nothing_else(
    tmp_path: Path, key: str
) -> None:
    env = {
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "SLACK_STATE_SECRET": STATE_SECRET,
        "CFLOW_BOT_SECRET_KEY": key,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "PORT": "0",
    }
    process = await spawn(
        "serve", "--host", "127.0.0.1", env=env, cwd=tmp_path, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    log = ""
    try:
        while not (found := re.search(r"Serving installs on (http://\S+?)/slack/install", log)):
            line = await asyncio.wait_for(process.stderr.readline(), 30)
            assert line, f"serve ended:\n{log}"
            log += line.decode()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{found[1]}/slack/install") as page:
                assert page.status == 200
                assert "/oauth/v2/authorize?" in await page.text()
            async with http.get(f"{found[1]}/healthz") as health:
                assert health.status == 200
            async with http.post(f"{found[1]}/slack/events", data="{}") as events:
                assert events.status == 404  # no workspace is served yet: said, not faked
        while "serving them" not in log:
            log += (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
        assert "issue 25" in log
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
    assert CLIENT_SECRET not in log and STATE_SECRET not in log
