"""`cflow-bot playground`: start the world and its page, print the URL, stop on Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import webbrowser

from aiohttp import web

from bot.devtools.playground.page import page_app
from bot.devtools.playground.world import running_world

log = logging.getLogger(__name__)
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


async def run_playground(host: str, port: int, *, open_browser: bool) -> None:
    """Serve until SIGINT or SIGTERM, then stop the page, the bot, Slack and Cflow."""
    if host not in LOOPBACK:
        log.warning(
            "The playground is served on %s: anyone who can reach it can act as the demo "
            "people. It has no login; keep it on 127.0.0.1 unless you mean this.",
            host,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running_world() as world:
        runner = web.AppRunner(page_app(world), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        bound = runner.addresses[0][1]
        url = f"http://{shown_host}:{bound}/"
        print(f"The playground is ready: {url}  (Ctrl-C stops it)", flush=True)
        if open_browser and _has_desktop():
            webbrowser.open(url)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
    print("Stopped.", flush=True)


def _has_desktop() -> bool:
    """A browser can be opened: a display on Linux, or macOS and Windows."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
