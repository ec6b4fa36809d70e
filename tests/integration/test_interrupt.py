"""An interrupted `edgeproof run` (SIGINT, SIGTERM, SIGHUP) heals, tears down, writes
results.json (verdict ``interrupted``), junit.xml (an error, never green) and report.html,
and exits 130 with nothing left; bad command-line values exit 2 before anything starts.

Every run here is the real console script in a session of its own, started from a folder
outside the checkout with a relative ``--out`` as a user types it; a Ctrl-C or a hang-up is
sent to that session's process group, as a terminal does. Waits poll something real (the
testbed record, Toxiproxy's admin API, the run's files) and are bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from _cli import EDGEPROOF, leftovers

from testbeds import nftcut
from testbeds.processes import RUN_LABEL, pid_alive
from testbeds.state import TestbedRecord, load_records

pytestmark = pytest.mark.integration

EXIT_INTERRUPTED = 130
EXIT_BAD_INPUT = 2
START_S = 120.0  # testbed up, calibration and the first 3 s of load, on a busy 2-core host
EXIT_S = 60.0  # signal to exit: heal, teardown, the artefacts written

QUORUM = """\
name: interrupt-me
seed: 5
testbed:
  service: {mode: quorum}
  nodes:
    - {name: edge-1, hardware: {workers: 2, service_ms: 2}}
    - {name: edge-2, hardware: {workers: 2, service_ms: 2}}
    - {name: edge-3, hardware: {workers: 2, service_ms: 2}}
  links:
    - {between: [edge-1, edge-2], latency_ms: 1}
    - {between: [edge-2, edge-3], latency_ms: 1}
    - {between: [edge-1, edge-3], latency_ms: 1}
  clients: {latency_ms: 1}
workload: {users: 3, think_time_ms: 50, duration_s: 20, keys: 8}
faults:
  - {at_s: 3, for_s: 15, kind: partition, isolate: edge-3}
"""

SHORT = """\
name: short
seed: 1
testbed:
  nodes: [{name: solo, hardware: {workers: 2, service_ms: 2}}]
workload: {users: 1, think_time_ms: 50, duration_s: 3, keys: 4}
"""


# ---------------------------------------------------------------- helpers


@dataclass
class Run:
    """One `edgeproof run` in progress: its process (a session leader) and where it writes."""

    proc: subprocess.Popen[bytes]
    out: Path
    log: Path

    def signal_group(self, sig: signal.Signals) -> float:
        """Send ``sig`` to the run's process group, as a terminal does; when (monotonic)."""
        at = time.monotonic()
        os.killpg(self.proc.pid, sig)
        return at

    def signal_process(self, sig: signal.Signals) -> float:
        """Send ``sig`` to the run's own process only, as ``kill PID`` does; when."""
        at = time.monotonic()
        self.proc.send_signal(sig)
        return at

    def wait_exit(self, since: float) -> tuple[int, float]:
        """The exit code and the seconds from ``since`` to the exit (bounded by EXIT_S)."""
        rc = self.proc.wait(timeout=EXIT_S)
        return rc, time.monotonic() - since

    def text(self) -> str:
        """What the run printed (stdout and stderr)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def work(tmp_path: Path, ep_env: dict[str, str]) -> Path:
    """A folder outside the checkout to run from (its own state dir is ``state/`` in it)."""
    (tmp_path / "interrupt.yaml").write_text(QUORUM)
    (tmp_path / "short.yaml").write_text(SHORT)
    return tmp_path


@pytest.fixture
def start(work: Path, ep_env: dict[str, str]) -> Iterator[Callable[..., Run]]:
    """Start `edgeproof run FILE --out REL ...` from ``work``; killed if a test leaves it."""
    started: list[Run] = []
    env = {k: v for k, v in ep_env.items() if k != RUN_LABEL}

    def _start(scenario: str, out: str, *extra: str) -> Run:
        log = work / f"{out.replace('/', '_')}.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen([EDGEPROOF, "run", scenario, "--out", out, *extra],
                                    cwd=work, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        run = Run(proc, work / out, log)
        started.append(run)
        return run

    yield _start
    for run in started:
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)
            run.proc.wait(timeout=10)


def wait_for(pred: Callable[[], bool], timeout_s: float, what: str,
             run: Run | None = None) -> None:
    """Poll ``pred`` until it holds; fail after ``timeout_s`` or if ``run`` exited first."""
    deadline = time.monotonic() + timeout_s
    while not pred():
        if run is not None and run.proc.poll() is not None:
            raise AssertionError(f"the run exited ({run.proc.returncode}) before {what}:\n"
                                 f"{run.text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.02)  # polling files and an API another process writes, bounded


def partition_toxics(url: str) -> int | None:
    """How many partition toxics Toxiproxy holds (None: its admin API does not answer)."""
    try:
        with urllib.request.urlopen(f"{url}/proxies", timeout=0.5) as resp:
            proxies = json.loads(resp.read())
    except (OSError, urllib.error.URLError, ValueError):
        return None
    return sum(1 for p in proxies.values() for t in p.get("toxics") or []
               if "-partition-" in str(t.get("name")) and t.get("type") == "timeout")


def the_record() -> TestbedRecord | None:
    """The one testbed record of this test's state dir, if there is one."""
    records = load_records()
    assert len(records) <= 1, [r.run_id for r in records]
    return records[0] if records else None


def partition_in_place() -> bool:
    """The run's record lists the partition as active and its cut is there: an nftables
    table of the run (namespaces) or Toxiproxy's cut toxics (elsewhere)."""
    rec = the_record()
    if rec is None or not rec.toxiproxy_url:
        return False
    listed = any(f.get("kind") == "partition" for f in rec.active_faults)
    cut = (bool(nftcut.tables(nftcut.table_name(rec.run_id, "")))
           or (partition_toxics(rec.toxiproxy_url) or 0) > 0)
    return listed and cut


def nodes_launched() -> bool:
    """The testbed is part way up: its record names a live process for every node."""
    rec = the_record()
    return rec is not None and len(rec.nodes) == 3 and all(
        pid_alive(n.pid) for n in rec.nodes.values())


def results(out: Path) -> dict[str, Any]:
    """The run's results.json."""
    return dict(json.loads((out / "results.json").read_text()))


def assert_interrupted_artefacts(out: Path, res: dict[str, Any], sig: str) -> None:
    """results.json says interrupted by ``sig``; junit.xml has an error (never green);
    report.html says interrupted."""
    assert res["verdict"] == "interrupted", res["verdict"]
    stop = res["interrupted"]
    assert stop["signal"] == sig, stop
    assert sig in stop["reason"] and "interrupted" in stop["reason"], stop["reason"]
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    bad = int(suite.get("errors", 0)) + int(suite.get("failures", 0))
    cases = suite.findall("testcase")
    red = [c for c in cases if c.find("error") is not None or c.find("failure") is not None]
    assert bad >= 1 and red, ET.tostring(suite, encoding="unicode")
    assert any(c.get("name") == "interrupted" and c.find("error") is not None
               for c in cases), ET.tostring(suite, encoding="unicode")
    html = (out / "report.html").read_text(errors="replace")
    assert "interrupted" in html, "report.html does not say the run was interrupted"


def assert_partition_healed(res: dict[str, Any]) -> None:
    """The partition was applied and then healed by the interrupt, before its scheduled end."""
    stop = res["interrupted"]
    (fault,) = res["faults"]
    assert fault["kind"] == "partition" and fault["target"] == "isolate edge-3", fault
    assert fault["ok"] and fault["error"] is None, fault
    assert fault["applied_at_s"] is not None and fault["healed_at_s"] is not None, fault
    assert stop["at_s"] is not None
    assert fault["applied_at_s"] < stop["at_s"] <= fault["healed_at_s"] + 0.05, (fault, stop)
    assert fault["healed_at_s"] < fault["at_s"] + fault["for_s"], "healed by its schedule"
    assert fault["healed"] is not None and fault["healed"]["status"] != "none", fault
    assert stop["stage"] == "load" and stop["faults_applied"] == 1, stop
    assert stop["healed"] is True and stop["unhealed"] == [], stop
    assert stop["healed_after_signal_s"] is not None and stop["healed_after_signal_s"] < 5, stop


def assert_nothing_left(env: dict[str, str], run_id: str | None) -> None:
    """No testbed in `edgeproof status --json`; no record, process or cgroup of the run (or
    of this state dir) left."""
    st = subprocess.run([EDGEPROOF, "status", "--json"], env=env, capture_output=True,
                        text=True, timeout=60)
    assert st.returncode == 0, st.stdout + st.stderr
    assert json.loads(st.stdout) == {"testbeds": []}, st.stdout
    empty = {"processes": [], "cgroups": [], "records": [], "nft tables": []}
    assert leftovers() == empty, leftovers()
    if run_id:
        assert leftovers(run_id) == empty, leftovers(run_id)


# ---------------------------------------------------------------- interrupted runs


def test_sigint_mid_partition_heals_writes_interrupted_and_exits_130(
        start: Callable[..., Run], ep_env: dict[str, str]) -> None:
    """Ctrl-C while edge-3 is cut off: healed, torn down, artefacts say interrupted, 130."""
    run = start("interrupt.yaml", "runs/ctrl-c")
    wait_for(partition_in_place, START_S, "the partition to be in place", run)
    run_id = (the_record() or pytest.fail("the record went away")).run_id
    at = run.signal_group(signal.SIGINT)
    rc, took = run.wait_exit(at)
    text = run.text()
    assert rc == EXIT_INTERRUPTED, text[-3000:]
    assert took < EXIT_S, took
    assert "Traceback" not in text, text[-3000:]
    res = results(run.out)
    assert res["run_id"] == run_id
    assert_interrupted_artefacts(run.out, res, "SIGINT")
    assert_partition_healed(res)
    assert res["interrupted"]["later_signals_ignored"] == [], res["interrupted"]
    assert res["workload"]["ops"] > 0, res["workload"]
    assert "interrupted" in text and str(run.out.resolve()) in text, text[-3000:]
    assert_nothing_left(ep_env, run_id)


def test_sigterm_then_sigint_during_the_heal_still_heals_and_exits_130(
        start: Callable[..., Run], ep_env: dict[str, str]) -> None:
    """`kill PID` mid-fault, then Ctrl-C 50 ms later while it heals: the second is ignored
    (and recorded), the run heals, tears down and exits 130 all the same."""
    run = start("interrupt.yaml", "runs/term-then-int")
    wait_for(partition_in_place, START_S, "the partition to be in place", run)
    run_id = (the_record() or pytest.fail("the record went away")).run_id
    at = run.signal_process(signal.SIGTERM)
    time.sleep(0.05)  # the second signal lands while the heal and teardown run
    assert run.proc.poll() is None, "the run exited within 50 ms: nothing was healed"
    run.signal_group(signal.SIGINT)
    rc, took = run.wait_exit(at)
    text = run.text()
    assert rc == EXIT_INTERRUPTED, text[-3000:]
    assert took < EXIT_S, took
    assert "Traceback" not in text, text[-3000:]
    res = results(run.out)
    assert_interrupted_artefacts(run.out, res, "SIGTERM")
    assert_partition_healed(res)
    assert res["interrupted"]["later_signals_ignored"] == ["SIGINT"], res["interrupted"]
    assert "SIGINT again" in text, text[-3000:]
    assert_nothing_left(ep_env, run_id)


def test_sighup_during_testbed_start_up_leaves_nothing_and_exits_130(
        start: Callable[..., Run], ep_env: dict[str, str]) -> None:
    """A hang-up while the nodes are starting (before any load): 130, nothing left; the
    results, if written, say interrupted during set-up with no fault applied."""
    run = start("interrupt.yaml", "runs/hang-up")
    wait_for(nodes_launched, START_S, "the nodes to be launched", run)
    rec = the_record() or pytest.fail("the record went away")
    assert not (run.out / "history.jsonl").exists(), "the load had begun already"
    node_pids = [n.pid for n in rec.nodes.values()]
    at = run.signal_group(signal.SIGHUP)
    rc, took = run.wait_exit(at)
    text = run.text()
    assert rc == EXIT_INTERRUPTED, text[-3000:]
    assert took < EXIT_S, took
    assert "Traceback" not in text, text[-3000:]
    assert not [p for p in node_pids if pid_alive(p)], node_pids
    if (run.out / "results.json").exists():
        res = results(run.out)
        assert res["run_id"] == rec.run_id
        assert_interrupted_artefacts(run.out, res, "SIGHUP")
        stop = res["interrupted"]
        assert stop["stage"] == "setup" and stop["faults_applied"] == 0, stop
        assert stop["healed"] is True and stop["unhealed"] == [], stop
        assert all(f["applied_at_s"] is None for f in res["faults"]), res["faults"]
    assert_nothing_left(ep_env, rec.run_id)


# ---------------------------------------------------------------- bad command-line values


@pytest.fixture
def cli(work: Path, ep_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`edgeproof ARGS` from ``work``, to its end."""
    env = {k: v for k, v in ep_env.items() if k != RUN_LABEL} | {"NO_COLOR": "1"}

    def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([EDGEPROOF, *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=timeout)
    return _cli


def assert_one_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2, one "error: ..." paragraph on stderr naming ``words``, no traceback."""
    assert proc.returncode == EXIT_BAD_INPUT, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr
    assert "Traceback" not in err and "Traceback" not in proc.stdout, err
    assert err.count("error:") == 1, err
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err
    for w in words:
        assert w in err, (w, err)


# the arguments after FILE, and words the one message must hold
BAD_ARGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "out-is-a-file": (("--out", "afile"), ("--out", "afile", "is a file")),
    "out-dev-null": (("--out", "/dev/null"), ("--out /dev/null", "not a folder")),
    "out-under-proc": (("--out", "/proc/1/nope"), ("--out /proc/1/nope", "cannot create")),
    "seed-negative": (("--out", "fresh", "--seed", "-1"), ("--seed -1", "0 to 4294967295")),
    "seed-too-big": (("--out", "fresh", "--seed", "4294967296"),
                     ("--seed 4294967296", "0 to 4294967295")),
    "unknown-flag": (("--out", "fresh", "--frobnicate"), ("--frobnicate", "--help")),
}


@pytest.mark.parametrize("case", sorted(BAD_ARGS))
def test_bad_command_line_value_exits_2_and_starts_nothing(
        case: str, cli: Callable[..., subprocess.CompletedProcess[str]], work: Path,
        ep_env: dict[str, str]) -> None:
    """Each bad value: exit 2, one paragraph, no traceback, no testbed, no folder made."""
    args, words = BAD_ARGS[case]
    (work / "afile").write_text("keep me\n")
    proc = cli("run", "interrupt.yaml", *args)
    assert_one_error(proc, *words)
    assert (work / "afile").read_text() == "keep me\n", "--out wrote over a file"
    assert not (work / "fresh").exists(), "bad input made the --out folder"
    assert not (work / "reports").exists(), "bad input made a default run folder"
    assert_nothing_left(ep_env, None)


def test_out_non_empty_folder_refused_then_accepted_with_force(
        cli: Callable[..., subprocess.CompletedProcess[str]], work: Path,
        ep_env: dict[str, str]) -> None:
    """A non-empty --out: exit 2 and untouched; with --force the run writes there, replacing
    an earlier run's files and leaving the user's own alone."""
    prev = work / "prev"
    prev.mkdir()
    (prev / "notes.txt").write_text("mine\n")
    (prev / "results.json").write_text('{"verdict": "old"}')
    refused = cli("run", "short.yaml", "--out", "prev")
    assert_one_error(refused, "--out", "prev", "not empty", "notes.txt", "--force")
    assert sorted(p.name for p in prev.iterdir() if p.name != ".edgeproof.lock") == [
        "notes.txt", "results.json"]
    assert (prev / "results.json").read_text() == '{"verdict": "old"}'
    assert_nothing_left(ep_env, None)

    forced = cli("run", "short.yaml", "--out", "prev", "--force", "-q", timeout=180)
    assert forced.returncode in (0, 1), (forced.returncode, forced.stdout, forced.stderr)
    assert "Traceback" not in forced.stderr + forced.stdout, forced.stderr
    res = results(prev)
    assert res["verdict"] in ("pass", "fail", "unknown") and res["name"] == "short", res
    assert (prev / "notes.txt").read_text() == "mine\n", "--force removed the user's file"
    for name in ("junit.xml", "report.html", "history.jsonl"):
        assert (prev / name).is_file(), name
    assert_nothing_left(ep_env, str(res["run_id"]))
