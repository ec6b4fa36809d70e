"""Nothing reads green that was not checked: a run that checks nothing, an unknown check in
JUnit, a certification whose cells could not run, progress that a CI log can show."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console

from harness import certify as cf
from harness.checks.evidence import Evidence
from harness.checks.registry import judge
from harness.progress import Progress
from harness.report import write_junit
from harness.scenario import Scenario


def test_a_run_that_checks_nothing_is_unknown() -> None:
    import pandas as pd

    scn = Scenario.model_validate({"testbed": {"nodes": [{"name": "a"}]},
                                   "checks": {"latency": None}})
    (v,) = judge(Evidence(scn, [], [], [], pd.DataFrame({"process": []})))
    assert v.verdict == "unknown" and "nothing checked" in v.detail


def test_a_run_whose_testbed_was_lost_is_unknown_whatever_the_checks_said() -> None:
    import pandas as pd

    scn = Scenario.model_validate({"testbed": {"nodes": [{"name": "a"}]},
                                   "checks": {"latency": None, "durability": {}}})
    ops = pd.DataFrame({"process": [], "type": [], "f": [], "key": [], "value": [],
                        "node": [], "start_s": [], "end_s": []})
    verdicts = judge(Evidence(scn, [], [], [], ops, testbed_lost="its record was removed"))
    assert verdicts and all(v.verdict == "unknown" and "testbed lost" in v.detail
                            for v in verdicts), [v.as_dict() for v in verdicts]


def test_junit_unknown_is_an_error_never_a_skip(tmp_path: Path) -> None:
    checks = [{"name": "latency[baseline]", "kind": "latency", "verdict": "pass", "detail": "ok"},
              {"name": "latency[crash a]", "kind": "latency", "verdict": "unknown",
               "detail": "not enough samples: 3 ok operations"},
              {"name": "consistency[linearizable]", "kind": "consistency", "verdict": "fail",
               "detail": "not linearizable"}]
    write_junit(tmp_path, {"name": "x", "checks": checks, "duration_s": 1.0})
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("1", "1", "0")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    unknown = cases["latency[crash a]"].find("error")
    assert unknown is not None and "not enough samples" in (unknown.get("message") or "")
    assert cases["consistency[linearizable]"].find("failure") is not None
    assert list(cases["latency[baseline]"]) == []


def test_cells_that_could_not_run_are_reported_once() -> None:
    err = {"verdict": "error", "failing": [{"name": "infrastructure", "detail": "no docker"}]}
    s = {"cells": [{"cell": "a", **err}, {"cell": "b", **err},
                   {"cell": "c", "verdict": "pass", "failing": []}]}
    assert cf.errors_once(s) == [("no docker", ["a", "b"])]
    assert cf._why({"verdict": "error", **err}).startswith("could not run")


def test_progress_in_a_log_is_timestamped_and_throttled() -> None:
    buf = io.StringIO()
    say = Progress(Console(file=io.StringIO()), stream=buf, live=False, every_s=60)
    with say:
        say("calibrating")
        for t in range(5):
            say(f"phase baseline · {t}/10 s · 10 ops")
        say("phase crash a · 6/10 s · 60 ops")
        say.keep("cell 1/2 x: pass")
    lines = buf.getvalue().splitlines()
    assert [line[11:] for line in lines] == [
        "calibrating", "phase baseline · 0/10 s · 10 ops", "phase crash a · 6/10 s · 60 ops",
        "cell 1/2 x: pass"], lines
    assert all(line[0] == "[" and line[9] == "]" for line in lines)
    quiet = io.StringIO()
    with Progress(Console(file=io.StringIO()), stream=quiet, live=False, quiet=True) as q:
        q("calibrating")
        q.keep("cell 1/2 x: pass")
    assert quiet.getvalue() == ""
