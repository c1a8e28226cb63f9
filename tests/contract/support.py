"""Small helpers shared by the contract tests."""

from __future__ import annotations

import pytest


def report(config: pytest.Config, line: str) -> None:
    """Print past pytest's capture, so CI logs show how much ran."""
    with config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        config.pluginmanager.get_plugin("terminalreporter").write_line(line)
