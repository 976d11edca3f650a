"""Logging set-up for the command line."""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO") -> None:
    """Plain, timestamped lines on stderr; quiet the chattiest libraries."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    for noisy in ("aiohttp.access", "slack_bolt", "slack_sdk"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
