"""Fixtures for integration tests: an isolated state dir and the real console script."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from _cli import EDGEPROOF, REPLACED, wait_for_quiet_host


@pytest.fixture
def ep_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Environment for `edgeproof` subprocesses, with a state dir of this test's own."""
    state = tmp_path / "state"
    monkeypatch.setenv("EDGEPROOF_STATE_DIR", str(state))
    yield {**os.environ, "EDGEPROOF_STATE_DIR": str(state), "COLUMNS": "200"}
    # whatever the test did, leave nothing behind for the next one
    subprocess.run([EDGEPROOF, "clean", "--force"], env={**os.environ,
                   "EDGEPROOF_STATE_DIR": str(state)}, capture_output=True, timeout=60)




@pytest.fixture
def quiet_host() -> float:
    """Accuracy tests start on a quiet host (bounded wait); the last CPU sample."""
    return wait_for_quiet_host()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """An accuracy test (one that waits for a quiet host) gets one re-run after a miss: a
    burst from outside the harness (a noisy neighbour, the engine's housekeeping) can move
    one phase's mean past a 10-15% band while a wrong model misses twice; pytest's summary
    counts the re-runs ("N rerun"), so a flaky figure is never hidden."""
    for item in items:
        if "quiet_host" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.flaky(reruns=1))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many accuracy assertions a saturated harness replaced (0 on a quiet host)."""
    terminalreporter.write_line(
        f"accuracy assertions replaced by 'unknown: harness saturated': {len(REPLACED)}"
        + "".join(f"\n  {r}" for r in REPLACED))
