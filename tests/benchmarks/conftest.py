"""Benchmarks reuse the suite's fixtures (http session, settings isolation)."""

from tests.conftest import _no_settings_from_the_environment, http

__all__ = ["_no_settings_from_the_environment", "http"]
