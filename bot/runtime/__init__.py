"""The running process: the composition root, the aiohttp/Bolt app, the server, `check`."""
