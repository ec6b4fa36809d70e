"""`edgeproof run` end to end on the local testbed: the run directory contract and the
latency step that the scenario promises (+50 ms on the client links)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from _cli import accuracy_applies, added_per_kind, edgeproof, leftovers

from workloads.history import read_history, validate_pairs

pytestmark = pytest.mark.integration


def test_latency_step_run(ep_env: dict[str, str], tmp_path: Path, quiet_host: float,
                          request: pytest.FixtureRequest) -> None:
    out = tmp_path / "run"
    proc = edgeproof("run", "examples/latency-step.yaml", "--out", str(out), env=ep_env,
                     timeout=180)
    res = json.loads((out / "results.json").read_text())
    for key in ("name", "seed", "backend", "verdict", "started_at", "duration_s", "workload",
                "latency_ms", "faults", "checks"):
        assert key in res, key
    assert set(res["workload"]) >= {"ops", "ok", "fail", "info", "throughput_rps"}
    assert set(res["latency_ms"]) >= {"mean", "p50", "p95", "p99"}
    assert res["seed"] == 11 and res["backend"] == "local"
    fault = res["faults"][0]
    assert fault["kind"] == "latency" and fault["ok"] is True
    assert abs(fault["applied_at_s"] - 10) < 0.5 and abs(fault["healed_at_s"] - 19) < 0.5
    for c in res["checks"]:
        assert set(c) >= {"name", "kind", "predicted", "measured", "tolerance", "verdict",
                          "detail"}
    if accuracy_applies(res, request.node.nodeid):
        assert proc.returncode == 0, f"seed 11; {proc.stdout}\n{proc.stderr}"
        assert res["verdict"] == "pass"
        for f, added in added_per_kind(out, res).items():
            assert abs(added - 50) <= 5, f"50 ms step measured as {added:.2f} ms on {f}"

    events = read_history(out / "history.jsonl")
    validate_pairs(events)
    assert {e["type"] for e in events} >= {"invoke", "ok"}
    assert set(events[0]) >= {"process", "type", "f", "key", "value", "node", "time_ns"}
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None and int(suite.get("tests", 0)) == len(res["checks"])
    html = (out / "report.html").read_text()
    assert "<svg" in html and "latency clients-&gt;*" in html and "http" not in html.split(
        "<body>")[0].replace("charset", "")
    assert leftovers() == {"processes": [], "cgroups": [], "records": [], "nft tables": []}


def test_predict_prints_phases(ep_env: dict[str, str]) -> None:
    proc = edgeproof("predict", "examples/latency-step.yaml", "--json", env=ep_env)
    assert proc.returncode == 0, proc.stderr
    pred = json.loads(proc.stdout)
    names = [p["name"] for p in pred["phases"]]
    assert names == ["baseline", "latency clients->*", "recovery after latency clients->*"]
    base, fault = pred["phases"][0]["latency_ms"]["mean"], pred["phases"][1]["latency_ms"]["mean"]
    assert fault - base == pytest.approx(50, abs=0.01)
