"""One whole run: scenario -> testbed up -> calibrate -> (load || faults) -> history ->
predictions vs measurements -> verdicts -> artefacts. Each stage hands a value to the next.

Every run ends with a final heal and the testbed down, on normal end, on exceptions and on
SIGINT/SIGTERM; a SIGKILLed run is reaped by `edgeproof clean` or the next run's sweep.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from faults.schedule import Nemesis, schedule_from
from harness import checks, measure, report
from harness.durability import FINAL_PROCESS_BASE, final_reads
from harness.errors import ConfigError, InfrastructureError
from harness.models import Calibration, predict
from harness.phases import phases
from harness.scenario import Scenario, load_scenario
from testbeds import reaper
from testbeds.base import Testbed
from testbeds.state import TestbedRecord, labels

Say = Callable[[str], None]
SATURATED_CPU = 90.0  # percent of one core for a harness process, of all cores for the host


class Headroom:
    """Watches the harness's own instruments while the load runs: host CPU, the load
    generator's CPU (from its progress lines) and Toxiproxy's CPU, one sample a second."""

    def __init__(self, toxiproxy_pid: int | None) -> None:
        import psutil
        self.host: list[float] = []
        self.load: list[float] = []
        self.proxy: list[float] = []
        psutil.cpu_percent(interval=None)
        self._proxy = None
        if toxiproxy_pid:
            with contextlib.suppress(psutil.Error):
                self._proxy = psutil.Process(toxiproxy_pid)
                self._proxy.cpu_percent(interval=None)

    def sample(self, line: dict[str, Any]) -> None:
        import psutil
        self.host.append(psutil.cpu_percent(interval=None))
        if line.get("cpu_percent") is not None:
            self.load.append(float(line["cpu_percent"]))
        if self._proxy is not None:
            with contextlib.suppress(psutil.Error):
                self.proxy.append(self._proxy.cpu_percent(interval=None))

    def problem(self) -> str | None:
        """Why the harness, not the system under test, may have been the bottleneck."""
        med = {k: statistics.median(v) for k, v in
               (("host", self.host[1:]), ("load generator", self.load[1:]),
                ("Toxiproxy", self.proxy[1:])) if v}
        hot = [f"{k} CPU median {v:.0f}%" for k, v in med.items() if v > SATURATED_CPU]
        return f"harness saturated ({'; '.join(hot)} > {SATURATED_CPU:.0f}%)" if hot else None

    def as_dict(self) -> dict[str, Any]:
        def med(v: list[float]) -> float | None:
            return statistics.median(v[1:]) if len(v) > 1 else None
        return {"host_cpu_percent_median": med(self.host),
                "load_cpu_percent_median": med(self.load),
                "toxiproxy_cpu_percent_median": med(self.proxy),
                "saturated": self.problem() is not None}


@dataclass
class RunOutcome:
    out_dir: Path
    results: dict[str, Any]
    exit_code: int
    extras: dict[str, Any] = field(default_factory=dict)


def new_run_id() -> str:
    return "ep" + uuid.uuid4().hex[:8]


def default_out(name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("reports") / f"{stamp}-{name}"


def backend_class(name: str) -> type[Testbed]:
    if name == "local":
        from testbeds.local import LocalTestbed
        return LocalTestbed
    if name == "docker":
        try:
            from testbeds.docker import DockerTestbed  # type: ignore[import-not-found]
        except ImportError:
            raise ConfigError(
                "--backend docker: the docker backend is not available in this version; "
                "use --backend local"
            ) from None
        return DockerTestbed  # type: ignore[no-any-return]
    raise ConfigError(f"--backend: {name!r} is not a backend; use local or docker")


def stand_up(scn: Scenario, *, run_id: str, workdir: Path, detached: bool, say: Say,
             scenario_path: str | None = None) -> Testbed:
    """Sweep stale testbeds, then stand this one up (the backend reaps it if start-up fails)."""
    swept = reaper.sweep_stale()
    if swept.testbeds:
        say(f"reaped {len(swept.testbeds)} stale testbed(s) left by killed runs")
    cls = backend_class(scn.testbed.backend)
    return cls.up(scn.testbed, run_id=run_id, name=scn.name, workdir=workdir,  # type: ignore[attr-defined, no-any-return]
                  seed=scn.seed, detached=detached, progress=say, scenario_path=scenario_path)


def _server_timing(header: str) -> dict[str, float]:
    """Parse ``Server-Timing: wait;dur=1.2, service;dur=2.0`` into {name: ms}."""
    out = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";")
        if rest.startswith("dur="):
            out[name] = float(rest[4:])
    return out


def _probe_node(http: httpx.Client, url: str, node: str, samples: int) -> dict[str, list[float]]:
    """Sequential writes then reads of a calibration key; client-side RTT and server timings."""
    got: dict[str, list[float]] = {"client": [], "read_repl": [], "write_repl": []}
    key = f"_calibration-{node}"
    for i in range(2 * samples):
        write = i < samples
        t = time.perf_counter()
        try:
            r = (http.put(f"{url}/kv/{key}", json={"value": -i - 1}) if write
                 else http.get(f"{url}/kv/{key}"))
        except httpx.HTTPError:
            continue
        rtt = (time.perf_counter() - t) * 1000
        st = _server_timing(r.headers.get("Server-Timing", ""))
        if r.status_code >= 300 or not st:
            continue
        got["client"].append(rtt - sum(st.values()))
        got["write_repl" if write else "read_repl"].append(st.get("replication", 0.0))
    return got


def calibrate(tb: Testbed, samples: int = 25) -> Calibration:
    """Measure, at no load, what the model would otherwise assume: the client path overhead
    (proxy hop, HTTP, client) and the cost of one replica round beyond the link delays. The
    warm-up's server timings refine both at the operating point (calibrate_from_load), and
    the nodes report their real service times after the run (measure_service_times)."""
    from harness.models import replication_ms
    cal = Calibration(peer_overhead_ms=0.0)
    spec = tb.spec
    if not all(spec.node(n).is_reference for n in spec.node_names):
        return cal
    repl_extra: list[float] = []
    with httpx.Client(timeout=2.0, trust_env=False) as http:
        for node, url in tb.client_targets():
            got = _probe_node(http, url, node, samples)
            if got["client"]:
                cal.client_overhead_ms[node] = max(
                    0.0, statistics.median(got["client"]) - 2 * spec.clients.latency_ms)
            static = replication_ms(_scenario_of(tb), node, [], 0.0)
            if static and got["write_repl"] and static[1] > 0:
                rounds = 2 if spec.service.mode == "quorum" else 1
                repl_extra.append((statistics.median(got["write_repl"]) - static[1]) / rounds)
    if repl_extra:
        cal.peer_overhead_ms = max(0.0, statistics.median(repl_extra))
    return cal


def measure_service_times(tb: Testbed, cal: Calibration) -> None:
    """The service time nodes really held a worker for during the run (the emulation's timer
    granularity included), as the nodes measured it themselves; replaces the no-load figure."""
    with httpx.Client(timeout=2.0, trust_env=False) as http:
        for node in tb.spec.node_names:
            if not tb.spec.node(node).is_reference:
                continue
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                m = http.get(f"{tb.direct_url(node)}/metrics").json()
                if m.get("completed"):
                    cal.service_ms[node] = tb.spec.node(node).hardware.service_ms + max(
                        0.0, float(m["service_overshoot_ms"]))


def _scenario_of(tb: Testbed) -> Scenario:
    return Scenario(testbed=tb.spec)


@contextlib.contextmanager
def signals_heal() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so the final heal and teardown always run."""
    def handler(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def drive_load(scn: Scenario, tb: Testbed, nemesis: Nemesis, out: Path, say: Say) -> Any:
    """Run the load process; start the fault schedule when the load reports its start."""
    from workloads.load import LoadProcess, LoadSpec

    targets = [{"node": n, "url": u} for n, u in tb.client_targets()]
    spec = LoadSpec.from_workload(scn.workload, targets=targets, out_dir=out, seed=scn.seed)
    if all(n.is_reference for n in scn.testbed.nodes) and scn.workload.workers == 0:
        spec.extra["timing_window_s"] = warmup_s(scn)
    headroom = Headroom(tb.record.toxiproxy_pid)
    plan = phases(scn)

    def on_progress(line: dict[str, Any]) -> None:
        if nemesis.t0 == 0.0 and "elapsed_s" in line:
            nemesis.start(time.monotonic() - float(line["elapsed_s"]))
        headroom.sample(line)
        active = ", ".join(f"{f['kind']} {f['target']}" for f in tb.record.active_faults)
        t = float(line.get("elapsed_s", 0))
        phase = next((p.name for p in plan if p.start_s <= t < p.end_s), "ending")
        say(f"phase {phase} · {t:.0f}/{scn.workload.duration_s:.0f} s · "
            f"{line.get('ops', 0)} ops ({line.get('fail', 0)} fail, {line.get('info', 0)} "
            f"info) · faults: {active or 'none'}")

    with LoadProcess(spec, on_progress=on_progress, env=labels(tb.run_id)) as lp:
        tb.record.extra_pids.append(lp.proc.pid)
        tb.record.save()
        result = lp.wait(timeout=scn.workload.duration_s + scn.workload.timeout_ms / 1000 + 30)
    if not result.ok:
        raise InfrastructureError(
            f"the load process failed (exit {result.returncode}); its log says:\n"
            f"{result.stderr_tail}")
    return result, headroom


def warmup_s(scn: Scenario) -> float:
    """The start of the load that calibrates the model at the scenario's own operating
    point (and is left out of the checks): 3 s, shorter if a fault or the end comes first."""
    first = min((f.at_s for f in scn.faults), default=scn.workload.duration_s)
    return max(0.0, min(3.0, first - 0.5, scn.workload.duration_s / 4))


def trimmed_mean(xs: list[float], top: float = 0.1) -> float:
    """Mean without the slowest ``top`` share: a warm-up stall (GC, a first connection)
    must not set the model's overhead for the whole run."""
    xs = sorted(xs)
    keep = xs[: max(1, int(len(xs) * (1 - top)))]
    return statistics.fmean(keep)


def calibrate_from_load(scn: Scenario, cal: Calibration, timings: list[dict[str, Any]]) -> None:
    """From the servers' own timings of the warm-up's operations: the client path overhead
    (round trip minus server time minus the link), the replication cost beyond what the
    link delays explain, per node and operation, and the service time actually held."""
    from harness.models import replication_ms
    if len(timings) < 20:
        return
    link = 2 * scn.testbed.clients.latency_ms
    cal.warmup_s = warmup_s(scn)
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for t in timings:
        by.setdefault((t["node"], t["f"]), []).append(t)
    for node in scn.testbed.client_nodes:
        rows = by.get((node, "read"), []) + by.get((node, "write"), [])
        if len(rows) < 10:
            continue
        server = [sum(r.get(k, 0.0) for k in ("wait", "service", "replication")) for r in rows]
        cal.client_overhead_ms[node] = max(0.0, trimmed_mean(
            [r["latency_ms"] - s for r, s in zip(rows, server, strict=True)]) - link)
        static = replication_ms(scn, node, [], 0.0) or (0.0, 0.0)
        extra = []
        for i, f in enumerate(("read", "write")):
            got = [r.get("replication", 0.0) for r in by.get((node, f), [])]
            extra.append(max(0.0, trimmed_mean(got) - static[i]) if got else 0.0)
        cal.repl_extra_ms[node] = (extra[0], extra[1])


def reproduce_cmd(path: str | None, scn: Scenario, backend: str) -> str:
    return f"edgeproof run {shlex.quote(path or 'SCENARIO.yaml')} --seed {scn.seed} " \
           f"--backend {backend}"


def analyse(scn: Scenario, out: Path, result: Any, t0_ns: int, cal: Calibration,
            fault_results: list[dict[str, Any]], headroom: Headroom) -> dict[str, Any]:
    """History and metrics -> measurements per phase -> checks -> the results dict."""
    from workloads.history import operations, read_history

    everything = measure.with_phase_times(operations(read_history(result.history_path)), t0_ns)
    ops = everything[everything["process"] < FINAL_PROCESS_BASE]  # the load's own operations
    times = [(f["applied_at_s"] if f["applied_at_s"] is not None else f["at_s"],
              f["healed_at_s"] if f["healed_at_s"] is not None else f["at_s"] + f["for_s"])
             for f in fault_results]
    phs = phases(scn, times)
    pred = predict(scn, cal, times)
    meas = measure.measure(ops, phs, warmup_s=cal.warmup_s)
    problem = headroom.problem()
    verdicts = checks.run_checks(scn, pred, meas, problem, ops=everything)
    res = measure.overall(ops, scn.workload.duration_s)
    res["phases"] = [{**m.as_dict(), "predicted": p.as_dict()}
                     for m, p in zip(meas, pred.phases, strict=False)]
    res["checks"] = [v.as_dict() for v in verdicts]
    res["verdict"] = checks.overall_verdict(verdicts)
    res["prediction"] = {"bottleneck": pred.bottleneck, "saturation_users": pred.saturation_users,
                         "calibration": cal.as_dict()}
    res["harness"] = headroom.as_dict()
    return {"res": res, "ops": ops}


def exercise(scn: Scenario, tb: Testbed, out: Path, say: Say = print
             ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Calibrate, drive the load with the fault schedule, heal, analyse: on a testbed that is
    already up (the pytest plugin's ``edge_load`` uses this too). Always ends with a heal."""
    out.mkdir(parents=True, exist_ok=True)
    say("calibrating: measuring the client path overhead")
    cal = calibrate(tb)
    nemesis = Nemesis(tb, schedule_from(scn))
    try:
        result, headroom = drive_load(scn, tb, nemesis, out, say)
        measure_service_times(tb, cal)
        calibrate_from_load(scn, cal, (result.stats or {}).get("server_timing", []))
        nemesis.heal_all()
        if any(getattr(scn.checks, c) is not None for c in
               ("durability", "consistency", "lost_updates")):
            svc = scn.testbed.service
            settle = 3 * svc.anti_entropy_ms / 1000 if svc.mode == "eventual" else 0.0
            say("final reads of every key after the heal")
            final_reads(scn, tb.client_targets(), result.history_path, settle)
        t0_ns = int(nemesis.t0 * 1e9) if nemesis.t0 else int(result.stats["started_ns"])
        analysed = analyse(scn, out, result, t0_ns, cal, nemesis.results(), headroom)
    finally:
        nemesis.heal_all()
    return analysed, nemesis.results()


def run(path: str, *, out: Path | None = None, backend: str | None = None,
        seed: int | None = None, say: Say = print) -> RunOutcome:
    """Run one scenario file end to end; return its results and exit code (0 pass, 1 not)."""
    overrides: dict[str, Any] = {}
    if backend:
        overrides["testbed.backend"] = backend
    if seed is not None:
        overrides["seed"] = seed
    return run_scenario(load_scenario(path, overrides=overrides), out=out, say=say,
                        source=path)


def run_scenario(scn: Scenario, *, out: Path | None = None, say: Say = print,
                 source: str | None = None) -> RunOutcome:
    """Run a scenario value end to end: testbed up, exercise, testbed down, artefacts."""
    out = out or default_out(scn.name)
    out.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    started = datetime.now(UTC)
    t_start = time.monotonic()
    tb: Testbed | None = None
    with signals_heal():
        try:
            tb = stand_up(scn, run_id=run_id, workdir=out / "testbed", detached=False, say=say,
                          scenario_path=source)
            analysed, faults = exercise(scn, tb, out, say)
        finally:
            if tb is not None:
                say("tearing the testbed down")
                tb.down()
    res = analysed["res"]
    results = {"name": scn.name, "seed": scn.seed, "backend": scn.testbed.backend,
               "verdict": res.pop("verdict"), "started_at": started.isoformat(),
               "duration_s": time.monotonic() - t_start, "run_id": run_id,
               "workload_duration_s": scn.workload.duration_s, **res, "faults": faults,
               "reproduce": reproduce_cmd(source, scn, scn.testbed.backend)}
    write_artefacts(out, results, analysed["ops"])
    return RunOutcome(out, results, 0 if results["verdict"] == "pass" else 1)


def write_artefacts(out: Path, results: dict[str, Any], ops: Any) -> None:
    report.write_results(out, results)
    report.write_junit(out, results)
    report.write_html(out, results, ops)


__all__ = ["RunOutcome", "TestbedRecord", "calibrate", "exercise", "run", "run_scenario",
           "stand_up"]
