"""`edgeproof explore`: search fault schedules with hypothesis, shrink a failing one.

Hypothesis generates fault schedules within the scenario's constraints (its ``explore:``
block, else defaults), each schedule runs as a whole scenario (`run_scenario`), and a schedule
whose run fails a check is shrunk by hypothesis (fewer faults, shorter, earlier, simpler
kinds and targets) to a minimal failing one. The smallest failing schedule found is written
as ``DIR/minimal.yaml``: the base scenario with ``faults:`` replaced by it, ``chaos:`` and
``explore:`` removed, so ``edgeproof run DIR/minimal.yaml`` reproduces it.

Hypothesis is driven programmatically (no pytest), with ``database=None`` and its home
directory in a temporary folder, so nothing is written into the repository.

The ``explore:`` block (optional, every field has a default)::

    explore:
      kinds: [partition, latency, crash, pause, clock_skew]
      partitions: [isolate, groups, shape]   # which partition forms to draw
      max_faults: 3          # at most this many faults per schedule
      min_faults: 0          # 1 to leave out the fault-free schedule
      duration_s: 8          # shorten the workload while exploring (minimal.yaml keeps it)
      start_s: 1.0           # no fault before this (the load warms up)
      for_s: [1.0, 4.0]      # fault length, [min, max] seconds
      step_s: 0.5            # times are multiples of this
      latency_ms: [20, 200]  # added latency, [min, max]
      skew_s: [-30, 30]      # clock offset, [min, max]
"""

from __future__ import annotations

import html
import json
import shlex
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from hypothesis import HealthCheck, Phase, Verbosity, configuration, given, settings
from hypothesis import seed as hseed
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import ConfigError, EdgeproofError, InfrastructureError
from harness.interrupts import EXIT_CODE, Interrupted, interruptible
from harness.outdir import OutClaim, claim, claim_fresh
from harness.rundir import default_out
from harness.runner import run_scenario
from harness.scenario import (
    Scenario,
    absolute,
    check_files,
    load_scenario,
    load_yaml,
    problems_of,
    resolve_paths,
)
from testbeds.spec import CLIENTS

Say = Callable[[str], None]
ExploreKind = Literal["partition", "latency", "crash", "pause", "clock_skew", "stop",
                      "bandwidth"]
DEFAULT_KINDS: list[ExploreKind] = ["partition", "latency", "crash", "pause", "clock_skew"]
MAX_ERRORS = 2  # consecutive infrastructure errors before exploration gives up
EXPLORE_FILES = ("runs", "confirm", "explore.json", "explore.html", "minimal.yaml")


class ExploreSpec(BaseModel):
    """The constraints generated schedules stay within (the scenario's ``explore:`` block)."""

    model_config = ConfigDict(extra="forbid")

    kinds: list[ExploreKind] = Field(default_factory=lambda: list(DEFAULT_KINDS), min_length=1)
    partitions: list[Literal["isolate", "groups", "shape"]] = Field(
        default_factory=lambda: ["isolate", "groups", "shape"], min_length=1)
    max_faults: int = Field(default=3, ge=0, le=20)
    min_faults: int = Field(default=0, ge=0, le=20)
    duration_s: float | None = Field(default=None, gt=0)
    start_s: float = Field(default=1.0, ge=0)
    for_s: tuple[float, float] = (1.0, 4.0)
    step_s: float = Field(default=0.5, gt=0)
    latency_ms: tuple[int, int] = (20, 200)
    skew_s: tuple[int, int] = (-30, 30)

    @model_validator(mode="after")
    def _ranges(self) -> ExploreSpec:
        if self.min_faults > self.max_faults:
            raise ValueError(f"min_faults ({self.min_faults}) is over max_faults "
                             f"({self.max_faults}); lower min_faults or raise max_faults")
        for name in ("for_s", "latency_ms"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi or (name == "for_s" and lo <= 0):
                raise ValueError(f"{name}: give [min, max] with 0 < min <= max, not [{lo}, {hi}]")
        lo, hi = self.skew_s
        if lo > hi or (lo == 0 and hi == 0):
            raise ValueError(f"skew_s: give [min, max] with min <= max, not both 0 "
                             f"(got [{lo}, {hi}])")
        return self


@dataclass
class Base:
    """The scenario explored: its raw mapping (faults, chaos and explore removed), the
    validated value and the constraints."""

    path: str
    raw: dict[str, Any]
    scenario: Scenario
    spec: ExploreSpec

    @property
    def duration_s(self) -> float:
        return self.scenario.workload.duration_s

    def with_faults(self, faults: list[dict[str, Any]]) -> Scenario:
        """The runnable scenario of one schedule."""
        return Scenario.model_validate({**self.raw, "faults": faults})

    def minimal_yaml(self, faults: list[dict[str, Any]], header: str) -> str:
        data = {**self.raw, "faults": faults}
        return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None,
                                       width=100)


# ---------------------------------------------------------------- loading


def load_base(path: str, *, duration_s: float | None = None, max_faults: int | None = None,
              min_faults: int | None = None) -> Base:
    """Read the scenario file and its ``explore:`` block; CLI values win over the block."""
    data, tree = load_yaml(path)
    if not isinstance(data, dict) or "testbed" not in data:
        raise ConfigError(f"{path}: explore needs a scenario file (a mapping with a "
                          "'testbed' key, see examples/eventual-partition.yaml)")
    block = data.pop("explore", None) or {}
    try:
        spec = ExploreSpec.model_validate(block)
    except ValidationError as exc:
        raise ConfigError(problems=tuple(problems_of(
            path, exc, tree, root=ExploreSpec, prefix=("explore",),
            root_name="explore"))) from None
    spec = _with_cli(spec, duration_s, max_faults, min_faults, path)
    data.pop("chaos", None)
    data["faults"] = []
    if spec.duration_s is not None:
        data["workload"] = {**(data.get("workload") or {}), "duration_s": spec.duration_s}
    resolve_paths(data, absolute(path).parent)  # minimal.yaml works from anywhere
    try:
        scn = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems=tuple(problems_of(path, exc, tree))) from None
    check_files(scn, path, tree)
    _check_room(path, spec, scn.workload.duration_s)
    return Base(path=path, raw=data, scenario=scn, spec=spec)


def _with_cli(spec: ExploreSpec, duration_s: float | None, max_faults: int | None,
              min_faults: int | None, path: str) -> ExploreSpec:
    upd = {k: v for k, v in (("duration_s", duration_s), ("max_faults", max_faults),
                             ("min_faults", min_faults)) if v is not None}
    try:
        return ExploreSpec.model_validate({**spec.model_dump(), **upd})
    except ValidationError as exc:
        msg = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise ConfigError(f"{path}: explore options: {msg}") from None


def _check_room(path: str, spec: ExploreSpec, duration: float) -> None:
    if spec.max_faults and spec.start_s + spec.step_s >= duration:
        raise ConfigError(
            f"{path}: explore.start_s ({spec.start_s}) leaves no time for a fault in a "
            f"{duration:g} s workload; lower explore.start_s or raise explore.duration_s")


# ---------------------------------------------------------------- strategies


def _links(scn: Scenario) -> list[list[str]]:
    tb = scn.testbed
    return [[s, d] for s, d, _ in tb.link_directions()] + [[CLIENTS, n] for n in tb.client_nodes]


def _partition_strategy(scn: Scenario, spec: ExploreSpec) -> Any:
    nodes = scn.testbed.node_names
    forms = []
    for form in spec.partitions:
        if form == "isolate":
            forms.append(st.sampled_from(nodes).map(lambda n: {"isolate": n}))
        elif form == "groups" and len(nodes) > 2:
            forms.append(st.lists(st.booleans(), min_size=len(nodes), max_size=len(nodes))
                         .map(lambda bits: {"groups": _two_groups(nodes, bits)}))
        elif form == "shape":
            shapes = ["halves", "random_node", "random_halves", "bridge", "majority_ring"]
            forms.append(st.sampled_from(shapes if len(nodes) > 2 else shapes[:3])
                         .map(lambda s: {"shape": s}))
    return st.one_of(forms).map(lambda body: {"kind": "partition", **body})


def _two_groups(nodes: list[str], bits: list[bool]) -> list[list[str]]:
    """Two non-empty groups from one bit per node (all-equal bits move the first node)."""
    if all(bits) or not any(bits):
        bits = [not bits[0], *bits[1:]]
    return [[n for n, b in zip(nodes, bits, strict=True) if b],
            [n for n, b in zip(nodes, bits, strict=True) if not b]]


def _kind_strategy(kind: str, scn: Scenario, spec: ExploreSpec) -> Any:
    nodes = scn.testbed.node_names
    if kind == "partition":
        return _partition_strategy(scn, spec)
    if kind == "latency":
        return st.builds(lambda link, ms: {"kind": "latency", "link": link, "ms": ms},
                         st.sampled_from(_links(scn)), st.integers(*spec.latency_ms))
    if kind == "bandwidth":
        return st.builds(lambda link, kbps: {"kind": "bandwidth", "link": link, "kbps": kbps},
                         st.sampled_from(_links(scn)), st.sampled_from([1024, 256, 64]))
    if kind == "clock_skew":
        return st.builds(lambda n, s: {"kind": "clock_skew", "node": n, "offset_s": s},
                         st.sampled_from(nodes), _skew_strategy(spec))
    return st.sampled_from(nodes).map(lambda n: {"kind": kind, "node": n})


def _skew_strategy(spec: ExploreSpec) -> Any:
    """Non-zero offsets in the range, shrinking towards the smallest magnitude."""
    lo, hi = spec.skew_s
    parts = []
    if hi > 0:
        parts.append(st.integers(max(1, lo), hi))
    if lo < 0:
        parts.append(st.integers(lo, min(-1, hi)))
    return st.one_of(parts)


def schedule_strategy(scn: Scenario, spec: ExploreSpec) -> Any:
    """Lists of (gap, length, fault) pieces laid out one after another (no overlap)."""
    kinds = [k for k in spec.kinds if k != "partition" or len(scn.testbed.nodes) > 1]
    if not kinds or spec.max_faults == 0:
        return st.just([])
    steps = max(1, int((scn.workload.duration_s - spec.start_s) / spec.step_s))
    lo = max(1, round(spec.for_s[0] / spec.step_s))
    hi = max(lo, round(spec.for_s[1] / spec.step_s))
    piece = st.tuples(st.integers(0, steps), st.integers(lo, hi),
                      st.one_of([_kind_strategy(k, scn, spec) for k in kinds]))
    return st.lists(piece, min_size=spec.min_faults, max_size=spec.max_faults).map(
        lambda pieces: layout(pieces, spec, scn.workload.duration_s))


def layout(pieces: list[tuple[int, int, dict[str, Any]]], spec: ExploreSpec,
           duration: float) -> list[dict[str, Any]]:
    """Fault entries from (gap steps, length steps, body); the ones past the end are dropped."""
    out: list[dict[str, Any]] = []
    t = spec.start_s
    for gap, length, body in pieces:
        at = round(t + gap * spec.step_s, 3)
        if at > duration - spec.step_s:
            continue
        for_s = round(min(length * spec.step_s, duration - at), 3)
        out.append({"at_s": at, "for_s": for_s, **body})
        t = at + for_s
    return out


# ---------------------------------------------------------------- describing


def describe_fault(f: dict[str, Any]) -> str:
    """``partition isolate edge-3 at 2.0s for 3.0s`` and the like."""
    kind = f["kind"]
    if kind == "partition":
        what = next(f"{k} {_fmt(f[k])}" for k in ("isolate", "groups", "shape") if k in f)
    elif kind in ("latency", "bandwidth"):
        extra = f"+{f['ms']} ms" if kind == "latency" else f"{f['kbps']} kbps"
        what = f"{_link(f['link'])} {extra}"
    elif kind == "clock_skew":
        what = f"{f['node']} {f['offset_s']:+g} s"
    else:
        what = f["node"]
    return f"{kind} {what} at {float(f['at_s']):.1f}s for {float(f['for_s']):.1f}s"


def _link(v: Any) -> str:
    """``edge-1->edge-2``, or a tier's uplinks: ``edge uplinks (pick 2)``."""
    if isinstance(v, dict):
        pick = f" (pick {v['pick']})" if v.get("pick") else ""
        return f"{v.get('tier')} uplinks{pick}"
    return "->".join(str(x) for x in v)


def _fmt(v: Any) -> str:
    if isinstance(v, list):
        return "|".join(",".join(g) if isinstance(g, list) else str(g) for g in v)
    return str(v)


def describe(faults: list[dict[str, Any]]) -> str:
    return "; ".join(describe_fault(f) for f in faults) or "no faults"


def size_key(faults: list[dict[str, Any]]) -> tuple[float, ...]:
    """Smaller is simpler: fewer faults, less fault time, earlier."""
    return (len(faults), sum(f["for_s"] for f in faults), sum(f["at_s"] for f in faults))


# ---------------------------------------------------------------- the search


@dataclass
class Example:
    """One schedule that was run (or answered from the cache of schedules already run)."""

    n: int
    phase: str
    faults: list[dict[str, Any]]
    verdict: str
    failing: list[dict[str, str]]
    out_dir: str | None
    duration_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "phase": self.phase, "faults": self.faults,
                "description": describe(self.faults), "verdict": self.verdict,
                "failing_checks": self.failing, "out_dir": self.out_dir,
                "duration_s": round(self.duration_s, 3)}


class ScheduleFailed(Exception):
    """Raised inside the hypothesis test when a schedule's run fails a check."""


@dataclass
class Explorer:
    """Runs schedules within a budget of runs and minutes; keeps the smallest failing one."""

    base: Base
    out: Path
    budget: int
    deadline: float | None
    say: Say
    examples: list[Example] = field(default_factory=list)
    cache: dict[str, str] = field(default_factory=dict)
    best: Example | None = None
    stopped_by: str = "search complete"
    error: EdgeproofError | None = None
    errors_in_a_row: int = 0
    last_run_s: float = 0.0
    cut: tuple[list[dict[str, Any]], str] | None = None  # the run a signal stopped

    @property
    def runs(self) -> int:
        return len(self.examples)

    def exhausted(self) -> bool:
        """True (and says why) when no further run fits the budget or the time."""
        if self.error is not None:
            return True
        if self.runs >= self.budget:
            self.stopped_by = f"budget of {self.budget} runs used"
            return True
        need = self.last_run_s or self.base.duration_s + 5
        if self.deadline is not None and time.monotonic() + need > self.deadline:
            self.stopped_by = "time budget used"
            return True
        return False

    def probe(self, faults: list[dict[str, Any]]) -> None:
        """The hypothesis test body: run the schedule, raise if a check failed."""
        key = json.dumps(faults, sort_keys=True)
        verdict = self.cache.get(key)
        if verdict is None:
            if self.exhausted():
                return
            verdict = self.run_one(faults)
            self.cache[key] = verdict
        if verdict == "fail":
            raise ScheduleFailed(describe(faults))

    def run_one(self, faults: list[dict[str, Any]]) -> str:
        n = self.runs + 1
        phase = "generate" if self.best is None else "shrink"
        d = self.out / "runs" / f"{n:04d}"
        d.mkdir(parents=True, exist_ok=True)
        self.say(f"run {n}/{self.budget} ({phase}): {describe(faults)}")
        t = time.monotonic()
        verdict, failing = self._execute(faults, d)
        self.last_run_s = time.monotonic() - t
        ex = Example(n, phase, faults, verdict, failing, str(d), self.last_run_s)
        self.examples.append(ex)
        if verdict == "fail" and (self.best is None
                                  or size_key(faults) < size_key(self.best.faults)):
            self.best = ex
        self.say(f"run {n}: {verdict}" + (f" ({failing[0]['name']})" if failing else ""))
        return verdict

    def _execute(self, faults: list[dict[str, Any]], d: Path) -> tuple[str, list[dict[str, str]]]:
        try:
            outcome = run_scenario(self.base.with_faults(faults), out=d, say=lambda _m: None)
        except Interrupted as stop:
            self.cut = (faults, str(d))
            raise stop
        except ConfigError as exc:
            self.error = exc
            return "error", [{"name": "config", "detail": str(exc)}]
        except EdgeproofError as exc:
            self.errors_in_a_row += 1
            if self.errors_in_a_row >= MAX_ERRORS:
                self.error = exc
            return "error", [{"name": "infrastructure", "detail": str(exc)}]
        self.errors_in_a_row = 0
        failing = [{"name": c["name"], "detail": c["detail"]}
                   for c in outcome.results.get("checks", []) if c["verdict"] == "fail"]
        return str(outcome.results["verdict"]), failing


@contextmanager
def hypothesis_home() -> Iterator[None]:
    """Point hypothesis's storage at a temporary folder (never the repository)."""
    with tempfile.TemporaryDirectory(prefix="edgeproof-hypothesis-") as tmp:
        configuration.set_hypothesis_home_dir(tmp)
        try:
            yield
        finally:
            configuration.set_hypothesis_home_dir(None)


def search(ex: Explorer, seed: int) -> None:
    """Drive hypothesis: generate schedules, shrink the first failing one."""

    strategy = schedule_strategy(ex.base.scenario, ex.base.spec)

    @settings(max_examples=max(1, ex.budget), database=None, deadline=None, derandomize=False,
              phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck),
              report_multiple_bugs=False, verbosity=Verbosity.quiet, print_blob=False)
    @hseed(seed)
    @given(strategy)
    def test_schedule(faults: list[dict[str, Any]]) -> None:
        ex.probe(faults)

    with hypothesis_home():
        try:
            test_schedule()
        except (ScheduleFailed, HypothesisException):
            pass  # the failure is in ex.best; flakiness of real runs is expected
        except BaseException as exc:  # Flaky* are ExceptionGroups in recent hypothesis
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            if not _only_ours(exc):
                raise
    if ex.stopped_by == "search complete" and ex.runs >= ex.budget:
        ex.stopped_by = f"budget of {ex.budget} runs used"
    elif ex.stopped_by == "search complete" and ex.best is not None:
        ex.stopped_by = "shrinking complete"


def _only_ours(exc: BaseException) -> bool:
    """True for a (possibly grouped) ScheduleFailed or hypothesis Flaky report."""
    if isinstance(exc, ScheduleFailed | HypothesisException):
        return True
    inner = getattr(exc, "exceptions", None)
    return bool(inner) and all(_only_ours(e) for e in inner)


# ---------------------------------------------------------------- outcome


@dataclass
class ExploreOutcome:
    out_dir: Path
    exit_code: int
    summary: str
    report: dict[str, Any]


def explore(path: str, *, budget: int, budget_minutes: float | None = None,
            out: Path | None = None, seed: int | None = None, duration_s: float | None = None,
            max_faults: int | None = None, min_faults: int | None = None,
            say: Say = print, force: bool = False) -> ExploreOutcome:
    """Explore fault schedules of one scenario; exit 0 none failed, 1 found one (130: a
    signal stopped it; explore.json and explore.html keep the runs so far)."""
    if budget < 1:
        raise ConfigError(f"--budget: {budget} runs leaves nothing to explore; give 1 or more")
    if budget_minutes is not None and budget_minutes <= 0:
        raise ConfigError(f"--budget-minutes: {budget_minutes} is not a positive time")
    base = load_base(path, duration_s=duration_s, max_faults=max_faults, min_faults=min_faults)
    with claim_folder(out, base.scenario.name, force) as held, interruptible():
        seed = base.scenario.seed if seed is None else seed
        deadline = time.monotonic() + budget_minutes * 60 if budget_minutes else None
        ex = Explorer(base, held.path, budget, deadline, say)
        return explore_in(ex, path, seed)


def claim_folder(out: Path | None, name: str, force: bool) -> OutClaim:
    """The exploration's own folder, locked: ``out`` (refused if it holds anything, unless
    ``force``: an earlier exploration's files are replaced) or a fresh default one."""
    if out is None:
        return claim_fresh(default_out(name, "explore"))
    return claim(absolute(out), force=force, owned=EXPLORE_FILES, what="exploration")


def explore_in(ex: Explorer, path: str, seed: int) -> ExploreOutcome:
    """Search, confirm and write the summary; an interrupted search keeps its summary."""
    started = datetime.now(UTC)
    try:
        search(ex, seed)
        ex.error = ex.error or nothing_completed(ex)
        if ex.error is not None:
            ex.stopped_by = f"error: {ex.error}"
            finish(ex, path, seed, started, None)
            raise ex.error
        confirmed = confirm(ex)
    except KeyboardInterrupt as stop:
        name = stop.name if isinstance(stop, Interrupted) else "SIGINT"
        ex.stopped_by = f"interrupted by {name}"
        if ex.cut is not None:
            ex.examples.append(Example(ex.runs + 1, "interrupted", ex.cut[0], "interrupted",
                                       [], ex.cut[1], 0.0))
        outcome = finish(ex, path, seed, started, None, interrupted=True)
        if isinstance(stop, Interrupted):
            stop.outcome = outcome
        raise
    return finish(ex, path, seed, started, confirmed)


def nothing_completed(ex: Explorer) -> EdgeproofError | None:
    """The error of an exploration that tried nothing, or none of whose runs completed: it
    checked nothing, so it is never a 0."""
    done = [e for e in ex.examples if e.verdict != "error"]
    if done:
        return None
    if not ex.examples:
        return InfrastructureError(
            f"explore tried no schedule ({ex.stopped_by}); raise --budget or "
            "--budget-minutes (one run takes about the workload's duration plus 5 s)")
    last = ex.examples[-1].failing[0]["detail"] if ex.examples[-1].failing else "unknown"
    return InfrastructureError(
        f"explore: none of its {len(ex.examples)} run(s) could complete; the last one "
        f"failed with: {last}")


def confirm(ex: Explorer) -> bool | None:
    """Run the written minimal.yaml once more if the budget allows: does it fail again?"""
    if ex.best is None:
        return None
    minimal = write_minimal(ex)
    if ex.exhausted():
        return None
    ex.say(f"confirming: edgeproof run {minimal}")
    d = ex.out / "confirm"
    t = time.monotonic()
    try:
        res = run_scenario(load_scenario(minimal), out=d, say=lambda _m: None,
                           source=str(minimal))
    except EdgeproofError as exc:
        ex.say(f"confirmation run failed to run: {exc}")
        return None
    ex.examples.append(Example(ex.runs + 1, "confirm", ex.best.faults,
                               str(res.results["verdict"]), [], str(d),
                               time.monotonic() - t))
    return bool(res.results["verdict"] == "fail")


def write_minimal(ex: Explorer) -> Path:
    assert ex.best is not None
    path = ex.out / "minimal.yaml"
    header = (f"# Minimal failing fault schedule found by `edgeproof explore {ex.base.path}`\n"
              f"# ({describe(ex.best.faults)}; first failing check: "
              f"{ex.best.failing[0]['name'] if ex.best.failing else '-'}).\n"
              f"# Reproduce: edgeproof run {shlex.quote(str(path))}\n")
    path.write_text(ex.base.minimal_yaml(ex.best.faults, header))
    return path


def finish(ex: Explorer, path: str, seed: int, started: datetime,
           confirmed: bool | None, interrupted: bool = False) -> ExploreOutcome:
    """Write explore.json (and minimal.yaml); the summary line and exit code (130 for an
    interrupted exploration, whose summary is marked so)."""
    minimal = write_minimal(ex) if ex.best is not None else None
    summary = summary_line(ex, minimal, confirmed)
    if interrupted:
        summary = f"INTERRUPTED ({ex.stopped_by}) after {ex.runs} run(s): {summary}"
    report = {
        "scenario": path, "name": ex.base.scenario.name, "seed": seed,
        "scenario_seed": ex.base.scenario.seed, "budget_runs": ex.budget,
        "runs": ex.runs, "stopped_by": ex.stopped_by, "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "workload_duration_s": ex.base.duration_s,
        "constraints": ex.base.spec.model_dump(mode="json"),
        "examples": [e.as_dict() for e in ex.examples],
        "minimal": None if ex.best is None else {
            **ex.best.as_dict(), "path": str(minimal), "confirmed": confirmed,
            "reproduce": f"edgeproof run {shlex.quote(str(minimal))}"},
        "exit_code": EXIT_CODE if interrupted else 2 if ex.error is not None
        else int(ex.best is not None),
        "interrupted": interrupted,
        "summary": summary,
    }
    (ex.out / "explore.json").write_text(json.dumps(report, indent=2))
    (ex.out / "explore.html").write_text(explore_html(report, ex.out), encoding="utf-8")
    return ExploreOutcome(ex.out, report["exit_code"], summary, report)


def explore_html(report: dict[str, Any], out: Path) -> str:
    """explore.html: the schedules tried with their verdicts and runs, the minimal one."""
    colour = {"pass": "#e6f4e6", "fail": "#fbe3e3"}
    rows = []
    for e in report["examples"]:
        run = Path(e["out_dir"]) if e.get("out_dir") else None
        link = (f'<a href="{html.escape(str(run.relative_to(out)))}/report.html">run</a>'
                if run is not None and run.is_relative_to(out) else "")
        failing = "; ".join(f"{c['name']}: {c['detail']}" for c in e["failing_checks"])
        rows.append(f'<tr style="background:{colour.get(e["verdict"], "#fff6d6")}">'
                    f"<td>{e['n']}</td><td>{html.escape(e['phase'])}</td>"
                    f"<td>{html.escape(e['description'])}</td>"
                    f"<td>{html.escape(e['verdict'])}</td><td>{html.escape(failing[:400])}</td>"
                    f"<td>{link}</td></tr>")
    minimal = report.get("minimal")
    found = (f"<p>minimal failing schedule: <b>{html.escape(minimal['description'])}</b> · "
             f'<a href="minimal.yaml">minimal.yaml</a> · reproduce: '
             f"<code>{html.escape(minimal['reproduce'])}</code></p>" if minimal else
             "<p>no failing schedule found</p>")
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>edgeproof explore: {html.escape(report['name'])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:
collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left;
vertical-align:top}}</style></head><body>
<h1>explore: {html.escape(report['name'])}</h1>
<p id="summary">{html.escape(report['summary'])}</p>{found}
<p>{report['runs']} run(s) of a budget of {report['budget_runs']} · stopped by
{html.escape(str(report['stopped_by']))} · seed {report['seed']}</p>
<table><thead><tr><th>#</th><th>phase</th><th>schedule</th><th>verdict</th>
<th>failing checks</th><th>run</th></tr></thead><tbody>{''.join(rows)}</tbody></table>
</body></html>"""


def summary_line(ex: Explorer, minimal: Path | None, confirmed: bool | None = None) -> str:
    runs = f"explore: {ex.runs} run(s)"
    if ex.best is None:
        unknown = sum(e.verdict not in ("pass", "fail") for e in ex.examples)
        extra = f", {unknown} unknown/error" if unknown else ""
        return f"{runs}, no failing schedule found{extra} ({ex.stopped_by}); out: {ex.out}"
    faults = ex.best.faults
    what = describe(faults) if faults else (
        "no faults (the scenario fails without any fault; --min-faults 1 explores "
        "schedules with faults only)")
    flaky = "; it passed when run again (flaky)" if confirmed is False else ""
    return (f"{runs}, found a failing schedule with {len(faults)} fault(s): {what}{flaky}; "
            f"minimal: {minimal}; reproduce: edgeproof run {shlex.quote(str(minimal))}")
