"""One whole run: scenario -> testbed up -> calibrate -> (load || faults) -> final reads ->
history -> evidence -> verdicts -> artefacts. Each stage hands a value to the next; the
checks meet the load and the faults only through the history (and the figures stored with
it), so ``edgeproof check RUN_DIR`` can judge a run again from disk.

Every run ends with a final heal and the testbed down, on normal end, on exceptions and on
SIGINT/SIGTERM; a SIGKILLed run is reaped by `edgeproof clean` or the next run's sweep.
"""

from __future__ import annotations

import contextlib
import copy
import math
import shlex
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from faults.schedule import Nemesis, schedule_from
from harness import measure, partial, report, rollouts
from harness.calibrate import (
    calibrate,
    calibrate_from_load,
    measure_service_times,
    warmup_s,
)
from harness.checks.delivery import calibrated_pipeline
from harness.checks.evidence import Evidence
from harness.checks.registry import judge
from harness.checks.verdict import overall_verdict
from harness.errors import InfrastructureError
from harness.headroom import Headroom
from harness.interrupts import (
    EXIT_CODE,
    GUARD,
    Interrupted,
    interruptible,
    pending,
    shielded,
)
from harness.models.latency import Calibration, predict
from harness.models.pipeline import predict_pipeline
from harness.outdir import OutClaim, claim, claim_fresh
from harness.phases import apply_done, fault_times, phases
from harness.rundir import default_out, point_latest
from harness.scenario import Scenario, absolute, load_scenario
from testbeds import backends
from testbeds.base import Testbed
from testbeds.spec import CLIENTS
from testbeds.state import labels
from workloads.final_reads import FINAL_PROCESS_BASE, final_reads
from workloads.history import operations, read_history
from workloads.load import LoadProcess, LoadResult, LoadSpec

Say = Callable[[str], None]


@dataclass
class RunOutcome:
    """A finished run: its directory, its results (results.json) and its exit code."""

    out_dir: Path
    results: dict[str, Any]
    exit_code: int
    extras: dict[str, Any] = field(default_factory=dict)


def new_run_id() -> str:
    """A fresh run id (labels everything the run creates)."""
    return "ep" + uuid.uuid4().hex[:8]


def stand_up(scn: Scenario, *, run_id: str, workdir: Path, detached: bool, say: Say,
             scenario_path: str | None = None) -> Testbed:
    """Sweep stale testbeds, then stand the scenario's testbed up."""
    return backends.up(scn.testbed, run_id=run_id, name=scn.name, workdir=workdir,
                       seed=scn.seed, detached=detached, progress=say,
                       scenario_path=scenario_path)


@dataclass
class RunState:
    """What a run in progress has got so far, for the results of an interrupted one."""

    nemesis: Nemesis | None = None
    load_started: bool = False


CURRENT: ContextVar[RunState | None] = ContextVar("edgeproof_run", default=None)


def drive_load(scn: Scenario, tb: Testbed, nemesis: Nemesis, out: Path,
               say: Say) -> tuple[LoadResult, Headroom]:
    """Run the load process; start the fault schedule when the load reports its start."""
    targets = [{"node": n, "url": u} for n, u in tb.client_targets()]
    spec = LoadSpec.from_workload(scn.workload, targets=targets, out_dir=out, seed=scn.seed)
    spec.sinks = [{"node": n, "url": tb.direct_url(n)} for n in scn.testbed.sinks] or None
    if all(n.is_reference for n in scn.testbed.nodes) and scn.workload.workers == 0:
        spec.extra["timing_window_s"] = warmup_s(scn)
    headroom = Headroom(tb.record.toxiproxy_pid)
    plan = phases(scn)
    last = {"t": 0.0, "ops": 0}

    def on_progress(line: dict[str, Any]) -> None:
        if nemesis.t0 == 0.0 and "elapsed_s" in line:
            nemesis.start(time.monotonic() - float(line["elapsed_s"]))
        headroom.sample(line)
        active = ", ".join(f"{f['kind']} {f['target']}" for f in tb.record.active_faults)
        t, ops = float(line.get("elapsed_s", 0)), int(line.get("ops", 0))
        rate = (ops - last["ops"]) / max(t - last["t"], 1e-9)
        last.update(t=t, ops=ops)
        phase = next((p.name for p in plan if p.start_s <= t < p.end_s), "ending")
        errors = int(line.get("fail", 0)) + int(line.get("info", 0))
        say(f"phase {phase} · {t:.0f}/{scn.workload.duration_s:.0f} s · {ops} ops, "
            f"{rate:.0f} ops/s, {errors} errors (fail+info) · faults: {active or 'none'}")

    state = CURRENT.get()
    if state is not None:
        state.nemesis = nemesis
    with LoadProcess(spec, on_progress=on_progress, env=labels(tb.run_id)) as lp:
        tb.record.extra_pids.append(lp.proc.pid)
        tb.record.save()
        if state is not None:
            state.load_started = True
        try:
            result = lp.wait(timeout=scn.workload.duration_s + scn.workload.timeout_ms / 1000
                             + 30 + spec.drain_s)
        except BaseException:
            nemesis.heal_all(urgent=True)  # heal first: stopping the load may take its timeout
            raise
    if not result.ok:
        raise InfrastructureError(
            f"the load process failed (exit {result.returncode}); its log says:\n"
            f"{result.stderr_tail}", tool="load process")
    return result, headroom


def reproduce_cmd(path: str | Path, scn: Scenario, backend: str) -> str:
    """The command line that runs the scenario again with the same seed and backend; the
    path is absolute and shell-quoted, so the line works pasted anywhere."""
    return f"edgeproof run {shlex.quote(str(absolute(path)))} --seed {scn.seed} " \
           f"--backend {backend}"


def client_link_traffic(faults: list[dict[str, Any]], ops: Any,
                        client_nodes: list[str]) -> list[dict[str, Any]]:
    """A client-link fault met traffic when the load sent operations over that link while it
    held (from the history: the harness's own record of what it sent)."""
    out = []
    for f in faults:
        detail = f.get("detail") or {}
        link = str(detail.get("target", f.get("target", "")))
        if f.get("ok") and link.startswith(f"{CLIENTS}->") and f.get("applied_at_s") is not None:
            dst = link.split("->", 1)[1]
            nodes = client_nodes if dst == "*" else [dst]
            end = f["healed_at_s"] if f.get("healed_at_s") is not None else math.inf
            n = int(((ops["node"].isin(nodes)) & (ops["start_s"] >= apply_done(f))
                     & (ops["start_s"] < end)).sum())
            f = {**f, "traffic": "seen" if n else "none", "traffic_count": n}
        out.append(f)
    return out


def analyse(scn: Scenario, result: LoadResult, t0_ns: int, cal: Calibration,
            fault_results: list[dict[str, Any]], headroom: Headroom,
            lost: str | None = None, blind: Calibration | None = None,
            control: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """History and metrics -> evidence -> verdicts -> the results figures (``res``) and
    the operations frame (``ops``); ``lost`` is why the testbed vanished under the run;
    ``blind`` the calibration known before the first judged phase (shown, not judged)."""
    everything = measure.with_phase_times(operations(read_history(result.history_path)), t0_ns)
    ops = everything[everything["process"] < FINAL_PROCESS_BASE]  # the load's own operations
    fault_results[:] = client_link_traffic(fault_results, ops, scn.testbed.client_nodes)
    times = fault_times(fault_results)
    phs = phases(scn, times)
    pred = predict(scn, cal, times)
    sent = ops[ops["f"] != "recv"]  # a receipt is an observation, not a request with a latency
    meas = measure.measure(sent, phs, warmup_s=cal.warmup_s, duration_s=scn.workload.duration_s)
    clock = (result.stats or {}).get("clock")  # the Locust workers' clock alignment
    ev = Evidence(scn, phs, meas, [p.as_dict() for p in pred.phases], everything,
                  headroom.problem(), fault_results, testbed_lost=lost, control=control or [],
                  clock_error_ns=clock["error_ns"] if clock else 0,
                  phase_problems=headroom.phase_problems(phs))
    verdicts = judge(ev)
    res = measure.overall(sent, scn.workload.duration_s)
    res["phases"] = [{**m.as_dict(), "predicted": p.as_dict()}
                     for m, p in zip(meas, pred.phases, strict=False)]
    if blind is not None:  # the model from what was known before the first judged phase
        for row, b in zip(res["phases"], predict(scn, blind, times).phases, strict=False):
            row["predicted_blind"] = {"latency_ms": b.as_dict()["latency_ms"]}
    res["checks"] = [v.as_dict() for v in verdicts]
    res["verdict"] = overall_verdict(verdicts)
    res["prediction"] = {"bottleneck": pred.bottleneck, "saturation_users": pred.saturation_users,
                         "calibration": cal.as_dict()}
    if blind is not None:
        res["prediction"]["blind_calibration"] = blind.as_dict()
    if (pipe := predict_pipeline(scn)) is not None:
        res["prediction"]["pipeline"] = calibrated_pipeline(ev, pipe).as_dict()
    if outs := rollouts.predictions(scn, fault_results, control or []):
        res["prediction"]["rollouts"] = [r.as_dict() for r in outs]
        res["prediction"]["control_hop_ms"] = rollouts.hop_delays_ms(scn, control or [])
    res["harness"] = {**headroom.as_dict(), "phase_problems": ev.phase_problems}
    res["t0_ns"] = t0_ns
    if clock:
        res["clock_alignment"] = clock
    res["locust"] = locust_summary(result.stats or {})
    res["warnings"] = list((result.stats or {}).get("warnings") or [])
    if lost:
        res["testbed_lost"] = lost
    return {"res": res, "ops": ops}


def locust_summary(stats: dict[str, Any]) -> dict[str, Any]:
    """Locust's own count of the run's requests, in total and per request name."""
    total = stats.get("total") or {}
    keep = ("name", "method", "num_requests", "num_failures", "avg_response_time",
            "p95_response_time", "p99_response_time")
    return {"requests": total.get("num_requests"), "failures": total.get("num_failures"),
            "recorded_as_operations": stats.get("requests_recorded"),
            "entries": [{k: e.get(k) for k in keep} for e in stats.get("entries") or []]}


def exercise(scn: Scenario, tb: Testbed, out: Path, say: Say = print
             ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Calibrate, drive the load with the fault schedule, heal, take the final reads the
    checks need, analyse: on a testbed that is already up (the pytest plugin's
    ``edge_load`` uses this too). Always ends with a heal."""
    out.mkdir(parents=True, exist_ok=True)
    tb.wait_settled(progress=say)
    if scn.workload.locustfile == "builtin:devices":  # the pipeline models need no kv probes
        cal = Calibration(warmup_s=warmup_s(scn))
    else:
        say("calibrating: measuring the client path overhead")
        cal = calibrate(tb)
    if scn.testbed.service.control is not None:
        say("calibrating: rolling out v1 (the initial config) to measure each hop's delay")
        if not rollouts.roll_out_initial(tb):
            say("control plane: v1 did not reach every node within 60 s")
    nemesis = Nemesis(tb, schedule_from(scn.faults, scn.testbed.node_names, scn.seed))
    try:
        result, headroom = drive_load(scn, tb, nemesis, out, say)
        timings = (result.stats or {}).get("server_timing", [])
        blind = copy.deepcopy(cal)  # no-load probes and the warm-up only: a blind prediction
        calibrate_from_load(scn, blind, timings)
        measure_service_times(tb, cal)  # the service time the nodes held over the whole run
        calibrate_from_load(scn, cal, timings)
        nemesis.heal_all()
        lost = tb.lost()
        if lost:
            say(f"the testbed was lost during the run: {lost}; every verdict is unknown")
        elif "final_reads" in scn.checks.needs():
            svc = scn.testbed.service
            settle = 3 * svc.anti_entropy_ms / 1000 if svc.mode == "eventual" else 0.0
            say("final reads of every key after the heal")
            final_reads(scn.workload, tb.client_targets(), result.history_path, settle)
        t0_ns = int(nemesis.t0 * 1e9) if nemesis.t0 else int((result.stats or {})["started_ns"])
        faults = nemesis.results()
        control = collect_control(scn, tb, out, t0_ns, faults, say) if not lost else []
        analysed = analyse(scn, result, t0_ns, cal, faults, headroom, lost, blind, control)
    finally:
        nemesis.heal_all()
    return analysed, faults


def collect_control(scn: Scenario, tb: Testbed, out: Path, t0_ns: int,
                    faults: list[dict[str, Any]], say: Say) -> list[dict[str, Any]]:
    """The control plane's applied versions (``control.jsonl``), each rollout's window closed
    at its convergence; nodes that did not answer are named."""
    if scn.testbed.service.control is None:
        return []
    applies, silent = rollouts.collect(tb, out, t0_ns)
    if silent:
        say(f"control plane: no log from {', '.join(silent)}; their versions are unknown")
    rollouts.end_rollouts(scn, faults, applies)
    return applies


def write_scenario(out: Path, scn: Scenario, source: str | None = None) -> Path:
    """``scenario.yaml`` in the run directory: the scenario as it runs (chaos expanded);
    ``edgeproof run`` of it runs the same scenario again."""
    path = out / "scenario.yaml"
    head = f"# the scenario as edgeproof ran it{f' (from {source})' if source else ''}\n"
    path.write_text(head + yaml.safe_dump(scn.as_run(), sort_keys=False), encoding="utf-8")
    return path


def results_of(scn: Scenario, analysed: dict[str, Any], faults: list[dict[str, Any]], *,
               run_id: str, started: datetime, duration_s: float,
               reproduce: str, network: dict[str, Any] | None = None) -> dict[str, Any]:
    """The results.json of a run (the run directory contract in the README); ``network``
    is the testbed's mode and its drop counters."""
    res = dict(analysed["res"])
    return {"name": scn.name, "seed": scn.seed, "backend": scn.testbed.backend,
            **(network or {}),
            "verdict": res.pop("verdict"), "started_at": started.isoformat(),
            "duration_s": duration_s, "run_id": run_id,
            "workload_duration_s": scn.workload.duration_s, **res, "faults": faults,
            **topology_of(scn), "reproduce": reproduce}


def topology_of(scn: Scenario) -> dict[str, Any]:
    """``{"topology": [{depth, name, tier, parent}, ...]}`` (depth first) for a testbed with
    parents (a tiered topology); nothing for a flat one."""
    tb = scn.testbed
    if all(n.parent is None for n in tb.nodes):
        return {}
    return {"topology": [{"depth": d, "name": name, "tier": tier,
                          "parent": tb.node(name).parent} for d, name, tier in tb.tree()]}


def run(path: str, *, out: Path | None = None, backend: str | None = None,
        seed: int | None = None, say: Say = print, force: bool = False) -> RunOutcome:
    """Run one scenario file end to end; return its results and exit code (0 pass, 1 not).
    ``force`` lets ``out`` be a folder that holds an earlier run (which is replaced)."""
    overrides: dict[str, Any] = {}
    if backend:
        overrides["testbed.backend"] = backend
    if seed is not None:
        overrides["seed"] = seed
    return run_scenario(load_scenario(path, overrides=overrides), out=out, say=say,
                        source=path, force=force)


def claim_out(out: Path | None, name: str, force: bool = False) -> OutClaim:
    """The run's own folder, locked for this run: ``out`` (refused if it holds anything,
    unless ``force``) or a fresh default one under reports/."""
    if out is None:
        return claim_fresh(default_out(name))
    return claim(absolute(out), force=force)


def run_scenario(scn: Scenario, *, out: Path | None = None, say: Say = print,
                 source: str | None = None, force: bool = False) -> RunOutcome:
    """Run a scenario value end to end: testbed up, exercise, testbed down, artefacts.
    ``source`` is the file it came from (the reproduce line names it; without one, the
    run directory's scenario.yaml). A signal (SIGINT, SIGTERM, SIGHUP) heals, tears down,
    writes the results of an ``interrupted`` run and raises :class:`Interrupted`."""
    with claim_out(out, scn.name, force) as held, interruptible():
        return run_in(scn, held.path, say, source)


def run_in(scn: Scenario, out: Path, say: Say, source: str | None) -> RunOutcome:
    """The run in its claimed folder (see :func:`run_scenario`)."""
    point_latest(out)
    written = write_scenario(out, scn, source)
    run_id = new_run_id()
    started = datetime.now(UTC)
    t_start = time.monotonic()
    state = RunState()
    token = CURRENT.set(state)
    tb: Testbed | None = None
    analysed: dict[str, Any] | None = None
    faults: list[dict[str, Any]] = []
    network: dict[str, Any] = {}
    try:
        tb = stand_up(scn, run_id=run_id, workdir=out / "testbed", detached=False, say=say,
                      scenario_path=source)
        analysed, faults = exercise(scn, tb, out, say)
        network = {"network": tb.record.network, "dropped": tb.dropped()}
    except Interrupted:
        pass  # healed on the way out of exercise; written below, after the teardown
    finally:
        CURRENT.reset(token)
        if tb is not None:
            tear_down(tb, say)
    reproduce = reproduce_cmd(source or str(written), scn, scn.testbed.backend)
    stop = pending()
    if stop is not None:
        raise stopped(scn, out, stop, state, analysed, faults, run_id=run_id, started=started,
                      duration_s=time.monotonic() - t_start, reproduce=reproduce,
                      network=network or ({"network": tb.record.network} if tb else {}))
    assert analysed is not None
    results = results_of(scn, analysed, faults, run_id=run_id, started=started,
                         duration_s=time.monotonic() - t_start, reproduce=reproduce,
                         network=network)
    write_artefacts(out, results, analysed["ops"])
    return RunOutcome(out, results, 0 if results["verdict"] == "pass" else 1)


def tear_down(tb: Testbed, say: Say) -> None:
    """The testbed down, never cut short: a signal during it waits for its end."""
    with shielded():
        with contextlib.suppress(OSError):  # a hung-up terminal (SIGHUP) cannot be told
            say("tearing the testbed down")
        tb.down()


def stopped(scn: Scenario, out: Path, stop: Interrupted, state: RunState,
            analysed: dict[str, Any] | None, faults: list[dict[str, Any]],
            **meta: Any) -> Interrupted:
    """Write the artefacts of an interrupted run; the Interrupted to raise, carrying them."""
    nem = state.nemesis
    if analysed is None:
        faults = nem.results() if nem is not None else [
            e.result() for e in schedule_from(scn.faults, scn.testbed.node_names, scn.seed)]
    t0 = nem.t0 if nem is not None and nem.t0 else None
    if analysed is not None:  # the checks were judged before the signal came
        results = results_of(scn, analysed, faults, **meta)
        ops = analysed["ops"]
    else:
        part = partial.measured(scn, out / "history.jsonl", t0, stop.at, fault_times(faults))
        results = results_of(scn, {"res": part.res}, faults, **meta)
        ops = part.ops
    results["verdict"] = "interrupted"
    results["interrupted"] = partial.interruption(
        scn, stop, t0, faults, judged=analysed is not None, load_started=state.load_started)
    results["interrupted"]["later_signals_ignored"] = list(GUARD.ignored)
    write_artefacts(out, results, ops)
    stop.outcome = RunOutcome(out, results, EXIT_CODE)
    return stop


def write_artefacts(out: Path, results: dict[str, Any], ops: Any) -> None:
    """results.json, junit.xml and report.html of a finished run."""
    report.write_results(out, results)
    report.write_junit(out, results)
    report.write_html(out, results, ops)


__all__ = ["RunOutcome", "exercise", "run", "run_scenario", "stand_up"]
