"""Every name the public API promises resolves, and importing it pulls in no Locust."""

from __future__ import annotations

import subprocess
import sys

import harness


def test_every_exported_name_resolves() -> None:
    missing = [n for n in harness.__all__ if getattr(harness, n, None) is None]
    assert not missing


def test_importing_the_api_does_not_import_locust() -> None:
    code = "import harness, sys; harness.run_scenario; harness.Partition; " \
           "print('locust' in sys.modules or 'gevent' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
