"""`edgeproof certify` with the real console script: a 4-cell fleet (2 testbed variants x
2 fault plans x 1 load) SIGKILLed after its second cell resumes and finishes the other two;
bad fleet files exit 2 with a message that names the file, the field and the fix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from _cli import EDGEPROOF, REPO, edgeproof

pytestmark = pytest.mark.integration

BASE = REPO / "examples" / "fleet" / "base.yaml"
FLEET = f"""\
name: kill-resume
base: {BASE}
testbeds:
  fast: {{}}
  slow: {{hardware: {{workers: 2, service_ms: 4}}}}
faults:
  calm: []
  isolate: [{{at_s: 2, for_s: 2.5, kind: partition, isolate: edge-3}}]
loads:
  short: {{duration_s: 6}}
"""
CELLS = ["fast__calm__short", "fast__isolate__short", "slow__calm__short",
         "slow__isolate__short"]


def _journal(out: Path) -> list[dict[str, object]]:
    path = out / "journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _kill_after_two(fleet: Path, out: Path, env: dict[str, str]) -> None:
    """Start certify, SIGKILL it as soon as the journal holds two finished cells."""
    proc = subprocess.Popen([EDGEPROOF, "certify", str(fleet), "--out", str(out)], env=env,
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 150
    try:
        while len(_journal(out)) < 2:
            assert proc.poll() is None, f"certify ended early (exit {proc.returncode})"
            assert time.monotonic() < deadline, "two cells did not finish in time"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow  # 40-70 s of the default run's 25 min; CI runs it with -m slow
def test_killed_certification_resumes(ep_env: dict[str, str], tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET)
    out = tmp_path / "cert"
    _kill_after_two(fleet, out, ep_env)
    first = _journal(out)
    assert [e["cell"] for e in first] == CELLS[:2]

    proc = edgeproof("certify", str(fleet), "--out", str(out), env=ep_env, timeout=200)
    text = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), text
    assert "Traceback" not in text
    journal = _journal(out)
    assert [e["cell"] for e in journal] == CELLS, "each cell exactly once, in matrix order"
    assert journal[:2] == first, "the cells done before the kill were not re-run"
    assert f"skip cell 1/4 {CELLS[0]}" in text and f"skip cell 2/4 {CELLS[1]}" in text
    assert f"resume with: edgeproof certify {fleet} --out {out}" in text

    cert = json.loads((out / "certification.json").read_text())
    assert cert["complete"] and [c["cell"] for c in cert["cells"]] == CELLS
    assert cert["resumed_cells"] == CELLS[:2]
    assert cert["verdict"] in ("pass", "fail", "unknown")
    assert (cert["verdict"] == "pass") == (proc.returncode == 0)
    for c in cert["cells"]:
        # "error": the run could not be carried out twice (on a machine shared with other
        # sessions); the cell is journaled and a resume would run it again
        assert c["verdict"] in ("pass", "fail", "unknown", "error"), c
        assert (out / c["out_dir"] / "scenario.yaml").is_file()
        if c["verdict"] != "error":
            assert (out / c["out_dir"] / "report.html").is_file()
    cases = ET.parse(out / "junit.xml").getroot().findall(".//testcase")
    assert [c.get("name") for c in cases] == CELLS
    html = (out / "report.html").read_text()
    assert 'id="matrix"' in html and all(f'href="cells/{c}/report.html"' in html for c in CELLS)
    assert "<script" not in html and "http" not in html.split("</style>")[0]


BAD_FLEETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "unknown-field": (f"base: {BASE}\ntestbedz: {{a: {{}}}}\n",
                      ("testbedz", "line 2", "unknown field", "testbeds")),
    "missing-base": ("testbeds: {a: {}}\n", ("base", "required", "scenario file")),
    "base-not-a-file": ("base: nowhere.yaml\n", ("base", "nowhere.yaml", "relative to")),
    "plan-unknown-node": (
        f"base: {BASE}\nfaults:\n  bad: [{{at_s: 1, for_s: 1, kind: crash, node: edge-9}}]\n",
        ("faults.bad[0].node", "line 3", "'edge-9'", "use one of")),
    "bad-axis-name": (f"base: {BASE}\nloads:\n  'a__b': {{users: 2}}\n",
                      ("loads", "'a__b'", "single '_'")),
    "load-typo": (f"base: {BASE}\nloads:\n  big: {{userz: 2}}\n",
                  ("loads.big.userz", "line 3", "did you mean 'users'")),
}


@pytest.mark.parametrize("case", sorted(BAD_FLEETS))
def test_bad_fleet_file(case: str, ep_env: dict[str, str], tmp_path: Path) -> None:
    text, words = BAD_FLEETS[case]
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(text)
    proc = edgeproof("certify", str(fleet), "--out", str(tmp_path / "out"), env=ep_env,
                     timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr
    assert "Traceback" not in err and str(fleet) in err, err
    for w in words:
        assert w in err, f"{w!r} not in: {err}"
    assert not (tmp_path / "out").exists(), "nothing is run or written for a bad fleet"
