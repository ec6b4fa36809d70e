"""The edgeproof pytest plugin (entry point ``pytest11``: loaded whenever edgeproof is installed).

A test names its scenario with a marker and asks for what it needs::

    @pytest.mark.edgeproof_scenario("quorum.yaml")       # relative to the test file, then cwd
    def test_quorum_holds(edge_run):
        edge_run()                                       # the whole scenario; fails on a check

    @pytest.mark.edgeproof_scenario("quorum.yaml")
    def test_minority_unavailable(edge_testbed, nemesis):
        urls = dict(edge_testbed.client_targets())
        with nemesis.partition(isolate="edge-3"):
            assert httpx.get(f"{urls['edge-3']}/kv/k").status_code == 503

    @pytest.mark.edgeproof_scenario("quorum.yaml")
    def test_throughput(edge_load):
        load = edge_load(duration_s=8, users=6, faults=False)
        assert (load.windows["throughput_rps"] > 0).all()
        load.assert_checks()

Fixtures (all function-scoped; each test gets a testbed of its own and leaves nothing behind):

- ``edge_testbed``: the marked scenario's testbed, up and ready (a :class:`testbeds.base.Testbed`);
  always torn down, also when the test fails or is interrupted (Ctrl-C, SIGTERM).
- ``nemesis``: :class:`PytestNemesis`; every fault it applies is healed when its ``with`` block
  ends, and whatever is still active is healed when the test ends.
- ``edge_load``: a callable running the scenario's workload (with or without its fault
  schedule) against ``edge_testbed``; returns a :class:`LoadRun`.
- ``edge_run``: a callable running the whole scenario (its own testbed, load, faults, checks,
  artefacts) like ``edgeproof run``; fails the test unless every check passes (``check=False``
  returns the :class:`LoadRun` whatever the verdict).

Options: ``--edgeproof-backend local|docker`` overrides every scenario's backend;
``--edgeproof-report DIR`` keeps each test's run directory as ``DIR/<test id>/`` (results.json,
report.html, junit.xml, history.jsonl, testbed logs); without it they go to pytest's tmp dirs.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import shlex
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.errors import EdgeproofError

# The plugin loads in every pytest session of a machine that has edgeproof installed, so the
# harness (pandas, pydantic, httpx) is imported when a fixture first needs it ("cost").
if TYPE_CHECKING:
    import pandas as pd

    from faults.base import Fault
    from faults.schedule import Scheduled
    from harness.rundir import RunDir
    from harness.scenario import Scenario
    from testbeds.base import Testbed

MARKER = "edgeproof_scenario"
_RUNS_KEY = pytest.StashKey[list["LoadRun"]]()
_SESSION_RUNS = pytest.StashKey[list[tuple[str, "LoadRun"]]]()


# ---------------------------------------------------------------- options and marker


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("edgeproof", "edgeproof chaos testing")
    group.addoption("--edgeproof-backend", choices=("local", "docker", "swarm"), default=None,
                    help="run every edgeproof scenario on this testbed backend "
                         "(overrides the scenario's testbed.backend)")
    group.addoption("--edgeproof-report", metavar="DIR", default=None,
                    help="keep each test's edgeproof run directory as DIR/<test id>/ "
                         "(results.json, report.html, junit.xml, history.jsonl); "
                         "default: pytest's per-test tmp dirs")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(path, *, seed=None, overrides=None): the edgeproof scenario file (relative "
        "to the test file's directory, then the current directory) that the edge_testbed, "
        "nemesis, edge_load and edge_run fixtures use; overrides: {'dotted.field': value}",
    )
    config.stash[_SESSION_RUNS] = []


def pytest_report_header(config: pytest.Config) -> list[str]:
    backend = config.getoption("--edgeproof-backend") or "as in each scenario"
    report = config.getoption("--edgeproof-report") or "pytest tmp dirs"
    return [f"edgeproof: backend {backend}; run directories in {report}"]


# ---------------------------------------------------------------- the marked scenario


@dataclass
class ScenarioRef:
    """The marked scenario of one test: its file, the loaded value and the overrides used."""

    path: Path
    scenario: Scenario
    overrides: dict[str, Any]

    @property
    def display_path(self) -> str:
        """The file as a command line run from the current directory would name it."""
        with contextlib.suppress(ValueError):
            return str(self.path.relative_to(Path.cwd()))
        return str(self.path)


def _resolve(request: pytest.FixtureRequest, fixture: str) -> ScenarioRef:
    """Find, load and validate the marked scenario, or fail the test with a readable reason."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None or not marker.args:
        pytest.fail(f"the {fixture} fixture needs a scenario: mark the test (or its module or "
                    f"class) with @pytest.mark.{MARKER}(\"scenario.yaml\")", pytrace=False)
    raw = Path(str(marker.args[0]))
    here = Path(str(request.node.path)).parent
    candidates = [raw] if raw.is_absolute() else [here / raw, Path.cwd() / raw]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        pytest.fail(f"@pytest.mark.{MARKER}({str(raw)!r}): no such file (looked at "
                    f"{', '.join(str(c) for c in candidates)})", pytrace=False)
    overrides: dict[str, Any] = dict(marker.kwargs.get("overrides") or {})
    if marker.kwargs.get("seed") is not None:
        overrides["seed"] = int(marker.kwargs["seed"])
    backend = request.config.getoption("--edgeproof-backend")
    if backend:
        overrides["testbed.backend"] = backend
    from harness.scenario import load_scenario  # cost: see the imports
    try:
        scn = load_scenario(path, overrides=overrides)
    except EdgeproofError as exc:
        pytest.fail(str(exc), pytrace=False)
    return ScenarioRef(path.resolve(), scn, overrides)


_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def _sanitize(nodeid: str) -> str:
    """A test node id as one directory name: ``tests/test_x.py::test_a[p1]`` ->
    ``tests_test_x.py__test_a_p1``."""
    return _UNSAFE.sub("_", nodeid.replace("::", "__")).strip("_")[:200] or "test"


class _RunDirs:
    """Run directories of one test: ``DIR/<test id>/`` for the first run, then
    ``DIR/<test id>-run2/`` and so on (tmp dirs without ``--edgeproof-report``)."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.request = request
        self.base_name = _sanitize(request.node.nodeid)
        self._count = itertools.count(1)

    def next(self) -> Path:
        n = next(self._count)
        name = self.base_name if n == 1 else f"{self.base_name}-run{n}"
        report = self.request.config.getoption("--edgeproof-report")
        if report:
            out = Path(report) / name
            out.mkdir(parents=True, exist_ok=True)
            return out.resolve()
        factory: pytest.TempPathFactory = self.request.getfixturevalue("tmp_path_factory")
        short = _sanitize(self.request.node.name)[:60] + ("" if n == 1 else f"-run{n}")
        return factory.mktemp(short, numbered=True)


def _say(line: str) -> None:
    """Progress goes to (captured) stdout: shown with the test's output when it fails."""
    print(f"edgeproof: {line}", flush=True)


@contextlib.contextmanager
def _heal_on_sigterm() -> Iterator[None]:
    """SIGTERM becomes KeyboardInterrupt while a testbed is up, so teardown runs."""
    from harness.interrupts import interruptible  # cost: see the imports
    try:
        cm = interruptible()
        cm.__enter__()
    except ValueError:  # not the main thread: signals cannot be set here
        yield
        return
    try:
        yield
    finally:
        cm.__exit__(None, None, None)


# ---------------------------------------------------------------- results


class LoadRun:
    """One workload run and what it measured: the run directory's contents as Python values
    (read through :class:`harness.rundir.RunDir`).

    ``results`` is the ``results.json`` dict; ``history`` the raw events; ``ops`` one row per
    operation; ``windows`` per-second figures; ``stats`` Locust's statistics as DataFrames.
    """

    def __init__(self, out_dir: Path, results: dict[str, Any], nodeid: str = "") -> None:
        from harness.rundir import RunDir  # cost: see the imports
        self.out_dir = out_dir
        self.results = results
        self.nodeid = nodeid
        self.run_dir: RunDir = RunDir(out_dir)

    def __repr__(self) -> str:
        return f"LoadRun({str(self.out_dir)!r}, verdict={self.verdict!r})"

    @property
    def verdict(self) -> str:
        """``pass``, ``fail`` or ``unknown`` (the worst of the checks)."""
        return str(self.results.get("verdict"))

    @property
    def checks(self) -> list[dict[str, Any]]:
        """The check verdicts: ``{name, kind, predicted, measured, tolerance, verdict,
        detail}`` each."""
        return list(self.results.get("checks", []))

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        """The checks that did not pass (fail or unknown)."""
        return [c for c in self.checks if c.get("verdict") != "pass"]

    @property
    def reproduce(self) -> str:
        """The command line that runs this scenario again."""
        return str(self.results.get("reproduce", ""))

    @property
    def history(self) -> list[dict[str, Any]]:
        """The history events (``history.jsonl``)."""
        return self.run_dir.history

    @property
    def ops(self) -> pd.DataFrame:
        """One row per operation of the load (:func:`workloads.history.operations`, without
        the final reads), with latency_ms."""
        return self.run_dir.load_operations

    @property
    def windows(self) -> pd.DataFrame:
        """Per-second figures (:func:`workloads.history.windows`) from the load's start:
        ops, ok/fail/info, throughput_rps, error_rate, latency mean/p50/p95/p99."""
        return self.run_dir.windows

    @property
    def stats(self) -> dict[str, pd.DataFrame]:
        """Locust's own statistics (:func:`workloads.stats.stats_frames`): entries, total,
        errors, history, run."""
        return self.run_dir.stats

    def summary(self) -> str:
        """The verdicts as text: one line per check, then artefacts and how to reproduce."""
        lines = [f"{self.results.get('name')}: {self.verdict}"]
        lines += [f"  {c['verdict']:<7} {c['name']}: {c.get('detail', '')}" for c in self.checks]
        w = self.results.get("workload") or {}
        if w:
            lines.append(f"  {w.get('ops')} ops ({w.get('ok')} ok, {w.get('fail')} fail, "
                         f"{w.get('info')} info)")
        lines.append(f"  artefacts: {self.out_dir}")
        lines.append(f"  reproduce: {self.reproduce}")
        if self.nodeid:
            lines.append(f"  or: pytest {_quote(self.nodeid)}")
        return "\n".join(lines)

    def assert_checks(self, *kinds: str, allow_unknown: bool = False) -> None:
        """Raise AssertionError, with each offending check's explanation and the reproduce
        line, unless every check (of the given kinds, e.g. ``"consistency"``) passed.
        ``unknown`` (too few samples, a saturated harness) fails too unless ``allow_unknown``.
        """
        __tracebackhide__ = True
        bad = [c for c in self.checks if (not kinds or c.get("kind") in kinds)
               and c.get("verdict") != "pass"
               and not (allow_unknown and c.get("verdict") == "unknown")]
        if kinds and not any(c.get("kind") in kinds for c in self.checks):
            raise AssertionError(f"edgeproof: no check of kind {', '.join(kinds)} ran; the "
                                 f"scenario's checks: "
                                 f"{', '.join(c['name'] for c in self.checks) or 'none'}")
        if bad:
            raise AssertionError(self._failure_message(bad))

    def _failure_message(self, bad: list[dict[str, Any]]) -> str:
        head = (f"edgeproof scenario {self.results.get('name')!r}: {len(bad)} check(s) did not "
                f"pass (verdict {self.verdict})")
        body = [f"  {c['verdict']}: {c['name']}: {c.get('detail', '')}" for c in bad]
        tail = [f"artefacts: {self.out_dir} (report.html, results.json, history.jsonl)",
                f"to reproduce: {self.reproduce}"]
        if self.nodeid:
            tail.append(f"or: pytest {_quote(self.nodeid)}")
        return "\n".join([head, *body, *tail])


def _quote(s: str) -> str:
    return shlex.quote(s)


def _record(request: pytest.FixtureRequest, run: LoadRun) -> None:
    """Attach a run to its test (report section, junit property, session summary)."""
    request.node.stash.setdefault(_RUNS_KEY, []).append(run)
    request.node.user_properties.append(("edgeproof_run", str(run.out_dir)))
    request.node.user_properties.append(("edgeproof_verdict", run.verdict))
    request.config.stash[_SESSION_RUNS].append((request.node.nodeid, run))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    runs = item.stash.get(_RUNS_KEY, [])
    if call.when == "call" and runs:
        report.sections.append(("edgeproof", "\n\n".join(r.summary() for r in runs)))
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config
                            ) -> None:
    runs = config.stash.get(_SESSION_RUNS, [])
    if not runs:
        return
    tr = terminalreporter
    tr.section("edgeproof")
    for nodeid, run in runs:
        tr.write_line(f"{run.verdict:<7} {nodeid}: {run.out_dir}")


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def edgeproof_scenario(request: pytest.FixtureRequest) -> ScenarioRef:
    """The marked scenario (path, validated :class:`harness.scenario.Scenario`, overrides)."""
    return _resolve(request, "edgeproof_scenario")


@pytest.fixture
def _edge_dirs(request: pytest.FixtureRequest) -> _RunDirs:
    return _RunDirs(request)


@pytest.fixture
def edge_testbed(request: pytest.FixtureRequest, edgeproof_scenario: ScenarioRef,
                 _edge_dirs: _RunDirs) -> Iterator[Testbed]:
    """The marked scenario's testbed, up and ready; torn down whatever happens."""
    from harness.runner import new_run_id, stand_up  # cost: see the imports
    ref = edgeproof_scenario
    out = _edge_dirs.next()
    request.node.stash[_TESTBED_OUT] = out
    with _heal_on_sigterm():
        try:
            tb = stand_up(ref.scenario, run_id=new_run_id(), workdir=out / "testbed",
                          detached=False, say=_say, scenario_path=str(ref.path))
        except EdgeproofError as exc:
            pytest.fail(f"edgeproof: the testbed of {ref.display_path} did not come up: {exc}",
                        pytrace=False)
        try:
            yield tb
        finally:
            _say("tearing the testbed down")
            tb.down()


_TESTBED_OUT = pytest.StashKey[Path]()


class ActiveFault:
    """A fault that :class:`PytestNemesis` applied: healed when its ``with`` block ends, by
    :meth:`heal`, or at the end of the test, whichever comes first."""

    def __init__(self, nemesis: PytestNemesis, entry: Scheduled) -> None:
        self.nemesis = nemesis
        self.entry = entry

    @property
    def fault(self) -> Fault:
        """The fault value."""
        return self.entry.fault

    @property
    def active(self) -> bool:
        """True until healed."""
        return self.entry.healed_at_s is None

    def heal(self) -> None:
        """Undo the fault (idempotent)."""
        self.nemesis.heal(self)

    def __enter__(self) -> ActiveFault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.heal()

    def __repr__(self) -> str:
        state = "active" if self.active else "healed"
        return f"<{state} {self.fault.kind} fault on {self.fault.target}>"


LinkArg = tuple[str, str] | list[str] | dict[str, Any]  # two ends, or a tier's uplinks


def _link(link: LinkArg) -> list[str] | dict[str, Any]:
    """A link argument as a scenario ``link:`` field."""
    return dict(link) if isinstance(link, dict) else list(link)


class PytestNemesis:
    """Apply faults to the running ``edge_testbed``, like Jepsen's nemesis, from a test.

    Every method applies its fault at once and returns an :class:`ActiveFault`; used in a
    ``with`` statement the fault is healed when the block ends. Faults compose (a latency
    inside a partition is fine); all still active are healed, most recent first, when the test
    ends. Arguments are those of the scenario file's ``faults:`` entries (without at_s/for_s),
    and are validated the same way (unknown nodes or links are a ValueError). Applying,
    healing and recording go through the fault schedule's :class:`faults.schedule.Nemesis`.
    """

    def __init__(self, testbed: Testbed, seed: int = 0) -> None:
        from faults.schedule import Nemesis  # cost: see the imports
        self.testbed = testbed
        self.seed = seed
        self.core = Nemesis(testbed, t0=time.monotonic(), owner="pytest")
        self._ids = itertools.count(1)

    @property
    def active(self) -> list[ActiveFault]:
        """The faults applied and not yet healed, oldest first."""
        return [ActiveFault(self, e) for e in self.core.active]

    # -------------------------------------------------------- link toxics
    def latency(self, link: LinkArg, ms: float, jitter_ms: float = 0.0,
                direction: str = "downstream") -> ActiveFault:
        """Add ``ms`` (+/- ``jitter_ms``) on a link: ``("clients", "edge-1")``, ``("clients",
        "*")``, ``("edge-1", "edge-2")`` or a tier's uplinks (``{"tier": "edge", ...}``)."""
        return self.inject(kind="latency", link=_link(link), ms=ms, jitter_ms=jitter_ms,
                           direction=direction)

    def bandwidth(self, link: LinkArg, kbps: float,
                  direction: str = "downstream") -> ActiveFault:
        """Limit a link to ``kbps`` kilobits per second."""
        return self.inject(kind="bandwidth", link=_link(link), kbps=kbps, direction=direction)

    def toxic(self, kind: str, link: LinkArg, **attributes: Any
              ) -> ActiveFault:
        """Any Toxiproxy toxic fault of the scenario format: ``timeout``, ``reset_peer``,
        ``slicer``, ``limit_data`` (and ``latency``, ``bandwidth``)."""
        return self.inject(kind=kind, link=_link(link), **attributes)

    # -------------------------------------------------------- partitions, clocks, nodes
    def partition(self, *, isolate: str | None = None, groups: list[list[str]] | None = None,
                  from_: list[str] | None = None, to: list[str] | None = None,
                  shape: str | None = None, mode: str = "drop") -> ActiveFault:
        """Cut the network: ``isolate="edge-3"``, ``groups=[["edge-1"], ["edge-2", "edge-3"]]``,
        one way with ``from_=[...], to=[...]``, or a named ``shape`` (halves, random_halves,
        majority_ring, bridge, random_node). ``mode="reject"`` refuses connections instead of
        dropping data."""
        spec: dict[str, Any] = {"kind": "partition", "mode": mode}
        for key, value in (("isolate", isolate), ("groups", groups), ("from", from_),
                           ("to", to), ("shape", shape)):
            if value is not None:
                spec[key] = value
        return self.inject(**spec)

    def clock_skew(self, node: str, offset_s: float, drift: float = 0.0) -> ActiveFault:
        """Move ``node``'s wall clock ``offset_s`` seconds (drifting ``drift`` s/s)."""
        return self.inject(kind="clock_skew", node=node, offset_s=offset_s, drift=drift)

    def crash(self, node: str, keep_data: bool = True) -> ActiveFault:
        """SIGKILL ``node``; healing restarts it (with its data unless ``keep_data=False``)."""
        return self.inject(kind="crash", node=node, keep_data=keep_data)

    def pause(self, node: str) -> ActiveFault:
        """Freeze ``node`` (SIGSTOP / cgroup freezer / docker pause); healing resumes it."""
        return self.inject(kind="pause", node=node)

    def stop(self, node: str) -> ActiveFault:
        """Stop ``node`` gracefully; healing starts it again."""
        return self.inject(kind="stop", node=node)

    # -------------------------------------------------------- generic
    def inject(self, **spec: Any) -> ActiveFault:
        """A fault written as a scenario ``faults:`` entry, e.g.
        ``inject(kind="partition", groups=[["edge-1"], ["edge-2", "edge-3"]])``."""
        return self.fault(spec)

    def fault(self, fault: Fault | dict[str, Any]) -> ActiveFault:
        """Apply a fault value (``faults.*``: ToxicFault, Partition, ClockSkew, Crash, Pause,
        Stop, or your own with apply/heal/describe) or a scenario-style dict; a fault that
        fails to apply raises its error."""
        value = self._build(fault) if isinstance(fault, dict) else fault
        entry = self.core.inject(value)
        if not entry.ok:
            self.core.heal(entry)
            assert entry.exception is not None
            raise entry.exception
        return ActiveFault(self, entry)

    def heal(self, handle: ActiveFault) -> None:
        """Heal one applied fault (idempotent); a failed heal raises its error."""
        was_ok = handle.entry.ok
        self.core.heal(handle.entry)
        if was_ok and handle.entry.ok is False and handle.entry.exception is not None:
            raise handle.entry.exception

    def heal_all(self) -> None:
        """Heal every fault still active, most recent first (idempotent)."""
        failed = [e for e in self.core.entries if e.ok is False]
        self.core.heal_all()
        errors = [f"<{e.fault.kind} fault on {e.fault.target}>: {e.error}"
                  for e in self.core.entries if e.ok is False and e not in failed]
        if errors:
            raise RuntimeError("edgeproof: healing failed for " + "; ".join(errors))

    def _build(self, spec: dict[str, Any]) -> Fault:
        from faults.base import check_refs  # cost: see the imports
        from faults.registry import build_fault, fault_seed, parse_fault  # cost: see the imports
        n = next(self._ids)
        where = f"nemesis.{spec.get('kind', 'fault')}"
        try:
            value = parse_fault({"at_s": 0, "for_s": 1, **spec})
            check_refs(where, value, self.testbed.spec.node_names)
            value.resolve(self.testbed.spec, fault_seed(self.seed, n))
        except Exception as exc:
            raise ValueError(f"{where}: {exc}") from None
        fault = build_fault(value, n, self.testbed.spec.node_names, self.seed)
        if hasattr(fault, "id"):  # toxic names of our own: never those of a fault schedule
            fault.id = f"pytest{n}"
        return fault


@pytest.fixture
def nemesis(edge_testbed: Testbed, edgeproof_scenario: ScenarioRef) -> Iterator[PytestNemesis]:
    """Apply faults to ``edge_testbed`` (see :class:`PytestNemesis`); heals all at the end."""
    nem = PytestNemesis(edge_testbed, seed=edgeproof_scenario.scenario.seed)
    try:
        yield nem
    finally:
        nem.heal_all()


def _effective(scn: Scenario, *, seed: int | None, faults: bool | list[dict[str, Any]],
               workload: dict[str, Any]) -> Scenario:
    """The scenario with a changed workload, seed or fault schedule (validated again)."""
    from harness.scenario import Scenario  # cost: see the imports
    data = scn.as_run()
    if seed is not None:
        data["seed"] = seed
    unknown = sorted(set(workload) - set(data["workload"]))
    if unknown:
        raise TypeError(f"edge_load: unknown workload field(s) {', '.join(unknown)}; "
                        f"known: {', '.join(sorted(data['workload']))}")
    data["workload"].update(workload)
    if faults is False:
        data["faults"] = []
    elif faults is not True:
        data["faults"] = list(faults)
    try:
        return Scenario.model_validate(data)
    except Exception as exc:
        raise ValueError(f"edge_load: the changed scenario is not valid: {exc}") from None


EdgeLoad = Callable[..., LoadRun]


@pytest.fixture
def edge_load(request: pytest.FixtureRequest, edge_testbed: Testbed,
              edgeproof_scenario: ScenarioRef, _edge_dirs: _RunDirs) -> EdgeLoad:
    """Run the scenario's workload against ``edge_testbed`` and return a :class:`LoadRun`.

    ``edge_load(duration_s=None, users=None, faults=True, seed=None, **workload)``:
    ``faults=True`` plays the scenario's fault schedule during the load, ``False`` none, a
    list of scenario-style fault dicts that schedule instead; other keywords change workload
    fields (think_time_ms, keys, read_fraction, ...). The load is calibrated, analysed and
    checked exactly as ``edgeproof run`` does; call ``.assert_checks()`` to fail on a check.
    """
    from harness.runner import (  # cost: see the imports
        exercise,
        reproduce_cmd,
        results_of,
        write_artefacts,
        write_scenario,
    )
    calls = itertools.count(1)

    def run(duration_s: float | None = None, users: int | None = None,
            faults: bool | list[dict[str, Any]] = True, seed: int | None = None,
            **workload: Any) -> LoadRun:
        base = edgeproof_scenario.scenario
        if duration_s is not None:
            workload["duration_s"] = duration_s
        if users is not None:
            workload["users"] = users
        scn = _effective(base, seed=seed, faults=faults, workload=workload)
        first = next(calls) == 1
        out = request.node.stash[_TESTBED_OUT] if first else _edge_dirs.next()
        path = write_scenario(out, scn, str(edgeproof_scenario.path))
        started = datetime.now(UTC)
        t_start = time.monotonic()
        analysed, fault_results = exercise(scn, edge_testbed, out, _say)
        results = results_of(scn, analysed, fault_results, run_id=edge_testbed.run_id,
                             started=started, duration_s=time.monotonic() - t_start,
                             reproduce=reproduce_cmd(str(path), scn, scn.testbed.backend))
        results["scenario"] = str(edgeproof_scenario.path)
        write_artefacts(out, results, analysed["ops"])
        load = LoadRun(out, results, nodeid=request.node.nodeid)
        _record(request, load)
        return load

    return run


EdgeRun = Callable[..., LoadRun]


@pytest.fixture
def edge_run(request: pytest.FixtureRequest, edgeproof_scenario: ScenarioRef,
             _edge_dirs: _RunDirs) -> EdgeRun:
    """Run the whole marked scenario like ``edgeproof run`` (own testbed, load, fault
    schedule, checks, artefacts) and return a :class:`LoadRun`.

    ``edge_run(check=True, allow_unknown=False)``: with ``check`` (the default) the test
    fails, with every failing check's explanation and the reproduce command, unless the
    verdict is ``pass`` (``allow_unknown``: ``unknown`` checks are let through); with
    ``check=False`` the result is returned whatever the verdict, for the test to inspect.
    Does not use ``edge_testbed``: the run stands up and tears down its own.
    """
    from harness.runner import run_scenario  # cost: see the imports

    def run(check: bool = True, allow_unknown: bool = False) -> LoadRun:
        __tracebackhide__ = True
        ref = edgeproof_scenario
        out = _edge_dirs.next()
        source: str | None = ref.display_path
        if set(ref.overrides) - {"seed", "testbed.backend"}:
            source = None  # the reproduce line names the run directory's scenario.yaml
        try:
            outcome = run_scenario(ref.scenario, out=out, say=_say, source=source)
        except EdgeproofError as exc:
            pytest.fail(f"edgeproof: {ref.display_path}: {exc}", pytrace=False)
        result = LoadRun(outcome.out_dir, outcome.results, nodeid=request.node.nodeid)
        _record(request, result)
        if check:
            result.assert_checks(allow_unknown=allow_unknown)
        return result

    return run


__all__ = ["ActiveFault", "EdgeLoad", "EdgeRun", "LoadRun", "PytestNemesis", "ScenarioRef"]
