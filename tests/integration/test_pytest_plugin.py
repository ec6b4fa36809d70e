"""The pytest plugin as its users meet it: a real pytest in a subprocess, loading the plugin
through its ``pytest11`` entry point, running the example suite in ``examples/pytest``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _cli import REPO, leftovers

pytestmark = pytest.mark.integration

EXAMPLES = REPO / "examples" / "pytest"


def run_pytest(*args: str, env: dict[str, str], basetemp: Path, timeout: float = 240
               ) -> subprocess.CompletedProcess[str]:
    """``python -m pytest ARGS`` from the repository root: no cache, plain output, and tmp
    dirs of its own (not the machine-wide ones other pytest sessions prune)."""
    env = {k: v for k, v in env.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "--color=no", f"--basetemp={basetemp}", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_nothing_left() -> None:
    left = leftovers()
    assert left["processes"] == [] and left["records"] == [], left


def test_example_suite_passes(ep_env: dict[str, str], tmp_path: Path) -> None:
    report = tmp_path / "report"
    proc = run_pytest("examples/pytest", "--edgeproof-report", str(report), env=ep_env,
                      basetemp=tmp_path / "bt")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert re.search(r"\b3 passed\b", out), out
    assert "failing" not in re.sub(r"run directories in .*", "", out.split("edgeproof ===")[0])
    # one run directory per test that ran a load, named after the test
    whole = report / "examples_pytest_test_quorum.py__test_whole_scenario_passes"
    for name in ("results.json", "report.html", "junit.xml", "history.jsonl"):
        assert (whole / name).is_file(), sorted(p.name for p in whole.iterdir())
    assert json.loads((whole / "results.json").read_text())["verdict"] == "pass"
    assert_nothing_left()


def test_failing_example_fails_with_the_explanation(ep_env: dict[str, str],
                                                    tmp_path: Path) -> None:
    proc = run_pytest("examples/pytest/failing", env=ep_env, basetemp=tmp_path / "bt")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert re.search(r"\b1 failed\b", out), out
    assert "AssertionError" in out and "not linearizable" in out, out
    assert (f"edgeproof run {EXAMPLES}/failing/eventual-partition.yaml --seed 3 "
            "--backend local") in out, out
    assert_nothing_left()


INTERRUPTED = '''
import os, signal
import pytest

@pytest.mark.edgeproof_scenario({scenario!r})
def test_interrupted(edge_testbed, nemesis):
    nemesis.partition(isolate="edge-3")
    os.kill(os.getpid(), signal.{sig})
'''


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupted_test_tears_the_testbed_down(ep_env: dict[str, str], tmp_path: Path,
                                                 sig: str) -> None:
    test = tmp_path / "test_interrupted.py"
    test.write_text(textwrap.dedent(INTERRUPTED.format(
        scenario=str(EXAMPLES / "quorum.yaml"), sig=sig)))
    proc = run_pytest(str(test), "--rootdir", str(tmp_path), "-c", os.devnull, env=ep_env,
                      basetemp=tmp_path / "bt", timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out  # pytest's "interrupted"
    assert f"Interrupted: interrupted by {sig}" in out, out  # a KeyboardInterrupt
    assert "tearing the testbed down" in out, out  # the fixture's teardown ran
    assert_nothing_left()


def test_marker_missing_or_wrong_is_a_readable_error(ep_env: dict[str, str],
                                                     tmp_path: Path) -> None:
    test = tmp_path / "test_bad.py"
    test.write_text(textwrap.dedent('''
        import pytest

        def test_no_marker(edge_testbed):
            pass

        @pytest.mark.edgeproof_scenario("nope.yaml")
        def test_missing_file(edge_testbed):
            pass
    '''))
    proc = run_pytest(str(test), "--rootdir", str(tmp_path), "-c", os.devnull,
                      "--strict-markers", env=ep_env, basetemp=tmp_path / "bt", timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "@pytest.mark.edgeproof_scenario(\"scenario.yaml\")" in out, out
    assert "'nope.yaml'): no such file" in out, out
    assert "Traceback" not in out, out
