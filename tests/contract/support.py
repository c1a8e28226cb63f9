"""Small helpers shared by the contract tests."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from e2e.conftest import ROOT


def report(config: pytest.Config, line: str) -> None:
    """Print past pytest's capture, so CI logs show how much ran."""
    with config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        config.pluginmanager.get_plugin("terminalreporter").write_line(line)


def manage(*args: str, env: dict[str, str]) -> None:
    """``python manage.py …`` as the Makefile runs it (``make migrate``, ``make admin``)."""
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**os.environ, **env}, check=True, timeout=60)
