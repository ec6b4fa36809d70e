"""The report renders in a real browser: headless Chromium loads report.html (no network),
lays out the verdict badge, four plots with axis ticks and the fault window labelled, one
table row per check, and shows the consistency witness."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.runner import run_scenario
from harness.scenario import Scenario

pytestmark = pytest.mark.integration

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium not found: install Debian's chromium (scripts/setup.sh does)")
    return path


def test_report_renders_plots_verdicts_and_witness(tmp_path: Path,
                                                   ep_env: dict[str, str]) -> None:
    scn = Scenario.model_validate({
        "name": "browser", "seed": 5,
        "testbed": {"service": {"mode": "eventual", "anti_entropy_ms": 500},
                    "nodes": [{"name": "a"}, {"name": "b"}],
                    "links": [{"between": ["a", "b"], "latency_ms": 2}]},
        "workload": {"users": 4, "think_time_ms": 20, "duration_s": 6, "keys": 3},
        "faults": [{"at_s": 2, "for_s": 2, "kind": "partition", "isolate": "b"}],
        "checks": {"latency": {"tolerance": 0.5, "min_samples": 5},
                   "consistency": {"model": "linearizable"}},
    })
    outcome = run_scenario(scn, out=tmp_path / "run", say=lambda _m: None)
    report = outcome.out_dir / "report.html"
    assert "http://" not in report.read_text().split("</style>")[0], "no external assets"
    dom = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                          "--dump-dom", report.as_uri()], capture_output=True, text=True,
                         timeout=90).stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body, dom[:500]
    plots = re.search(r'data-rendered-plots="(\d+)"', body.group(0))
    rows = re.search(r'data-rendered-check-rows="(\d+)"', body.group(0))
    assert plots and int(plots.group(1)) == 4, body.group(0)
    assert rows and int(rows.group(1)) == len(outcome.results["checks"]), body.group(0)
    assert outcome.results["verdict"] == "fail"
    ticks = re.search(r'data-rendered-ticks="(\d+)"', body.group(0))
    assert ticks and int(ticks.group(1)) >= 4 * 6, body.group(0)  # x and y ticks per plot
    labels = re.search(r'data-rendered-fault-labels="(\d+)"', body.group(0))
    assert labels and int(labels.group(1)) == 4, body.group(0)  # the partition, on each plot
    assert 'data-badge="fail"' in body.group(0), body.group(0)
    assert "partition isolate b" in dom and 'id="reason"' in dom
    assert "Consistency witness" in dom and "not linearizable" in dom
    shot = tmp_path / "report.png"
    subprocess.run([chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile2'}",
                    f"--screenshot={shot}", "--window-size=1000,1400", report.as_uri()],
                   capture_output=True, timeout=90)
    assert shot.exists() and shot.stat().st_size > 20_000, "a rendered page, not a blank one"
