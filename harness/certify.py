"""`edgeproof certify FLEET.yaml`: a matrix of scenarios, one verdict per cell and overall.

A fleet file names a base scenario and three axes: ``testbeds`` (named overrides of testbed
fields), ``faults`` (named fault plans, each a whole fault list) and ``loads`` (named workload
overrides). Every combination is a cell, run as a whole scenario into
``OUT/cells/<testbed>__<faults>__<load>/``. Finished cells are journaled in
``OUT/journal.jsonl`` (append-only, one line per cell, one ``write(2)`` plus ``fsync`` each),
so re-running the same command with the same ``--out`` skips the cells already done and runs
the rest, also after a SIGKILL.

Fleet file::

    name: edge-fleet                 # default: the file's stem
    base: fleet/base.yaml            # scenario path (relative to this file) or inline mapping
    backend: local                   # optional: every cell's backend (--backend wins)
    testbeds:                        # deep-merged into base.testbed; default {base: {}}
      quorum: {service: {mode: quorum}}
      slow-nodes: {hardware: {service_ms: 8}}            # into every node's hardware
      edge-3-slow: {nodes: {edge-3: {hardware: {workers: 1}}}}  # into the named node
    faults:                          # each replaces base.faults (and drops chaos);
      calm: []                       # default: {base: <the base's own faults>}
      partition: [{at_s: 2, for_s: 3, kind: partition, isolate: edge-3}]
    loads:                           # deep-merged into base.workload; default {base: {}}
      light: {users: 4, think_time_ms: 80}
"""

from __future__ import annotations

import copy
import hashlib
import html
import json
import os
import re
import shlex
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from rich.markup import escape
from rich.table import Table

from harness.errors import ConfigError, EdgeproofError, Problem
from harness.interrupts import EXIT_CODE, interruptible
from harness.junit import Case, junit_xml
from harness.outdir import OutClaim, claim, claim_fresh
from harness.rundir import default_out, reports_root
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

Say = Callable[[str], None]
AXIS_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]|_(?!_)){0,39}$")
DONE = ("pass", "fail", "unknown")  # journaled verdicts a resume skips; "error" re-runs
CERTIFY_FILES = ("cells", "journal.jsonl", "certification.json", "junit.xml", "report.html")


class FleetSpec(BaseModel):
    """The fleet file, as written (axes not yet expanded)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    base: str | dict[str, Any]
    backend: Literal["local", "docker", "swarm"] | None = None
    testbeds: dict[str, dict[str, Any]] = Field(default_factory=lambda: {"base": {}})
    faults: dict[str, list[dict[str, Any]]] | None = None
    loads: dict[str, dict[str, Any]] = Field(default_factory=lambda: {"base": {}})

    @field_validator("testbeds", "faults", "loads")
    @classmethod
    def _names(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("give at least one named entry (or leave the axis out)")
        for name in v:
            if not AXIS_NAME.match(str(name)):
                raise ValueError(
                    f"{name!r} is not a usable name: letters, digits, '.', '-' and single "
                    "'_', at most 40 characters (it names a cell folder), e.g. slow-nodes")
        return v


@dataclass
class Cell:
    """One combination of the matrix and its runnable scenario."""

    testbed: str
    plan: str
    load: str
    scenario: Scenario
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.testbed}__{self.plan}__{self.load}"

    @property
    def digest(self) -> str:
        """What the cell runs; a changed definition makes a resume run it again."""
        text = json.dumps(self.data, sort_keys=True, default=str)  # as written, not as parsed
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Fleet:
    path: str
    name: str
    spec: FleetSpec
    cells: list[Cell]

    def axes(self) -> dict[str, list[str]]:
        def uniq(xs: Iterator[str]) -> list[str]:
            return list(dict.fromkeys(xs))
        return {"testbeds": uniq(c.testbed for c in self.cells),
                "faults": uniq(c.plan for c in self.cells),
                "loads": uniq(c.load for c in self.cells)}


# ---------------------------------------------------------------- loading


def merge(base: Any, over: Any) -> Any:
    """Deep merge: mappings merge key by key, anything else in ``over`` replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base.get(k), v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


def apply_testbed(testbed: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """A testbed variant: ``hardware`` goes into every node, ``nodes`` as a mapping into the
    named nodes (as a list it replaces them), the rest is deep-merged."""
    variant = dict(variant)
    hw = variant.pop("hardware", None)
    nodes = variant.pop("nodes", None)
    out = merge(copy.deepcopy(testbed), variant)
    if isinstance(nodes, list):
        out["nodes"] = copy.deepcopy(nodes)
    out_nodes = out.get("nodes") or []
    for node in out_nodes:
        if not isinstance(node, dict):
            continue
        if hw is not None:
            node["hardware"] = merge(node.get("hardware") or {}, hw)
        if isinstance(nodes, dict) and node.get("name") in nodes:
            node.update(merge(node, nodes[node["name"]]))
    if isinstance(nodes, dict):
        known = [str(n.get("name")) for n in out_nodes if isinstance(n, dict)]
        for name in nodes:
            if name not in known:
                raise ValueError(f"nodes.{name}: not a node of the base testbed "
                                 f"(nodes: {', '.join(known)}); use one of those names")
    return out


def load_fleet(path: str, *, backend: str | None = None) -> Fleet:
    """Read and validate a fleet file and every cell of its matrix; ConfigError names the
    file, the field (and line) and the fix."""
    data, tree = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a fleet file is a YAML mapping with at least 'base' (a "
                          "scenario) and some of testbeds/faults/loads; see examples/fleet.yaml")
    try:
        spec = FleetSpec.model_validate(data)
    except ValidationError as exc:
        raise _explain_fleet(path, exc, tree) from None
    base_raw, base_label = _base(path, spec)
    name = spec.name or Path(path).stem
    cells = _cells(path, spec, base_raw, base_label, backend or spec.backend, name, tree)
    return Fleet(path=path, name=name, spec=spec, cells=cells)


_AXIS_HINT = {
    "testbeds": "testbeds is a mapping of named testbed overrides, e.g. "
                "{fast: {}, slow: {hardware: {service_ms: 8}}}",
    "faults": "faults is a mapping of named fault plans, e.g. "
              "{calm: [], partition: [{at_s: 2, for_s: 3, kind: partition, isolate: edge-3}]}",
    "loads": "loads is a mapping of named workload overrides, e.g. {light: {users: 5}}",
    "base": "give a scenario file (relative to the fleet file) or an inline scenario mapping",
}


def _explain_fleet(path: str, exc: ValidationError, tree: yaml.Node | None) -> ConfigError:
    found = problems_of(path, exc, tree, root=FleetSpec, root_name="a fleet file",
                        hints=_AXIS_HINT)
    return ConfigError(problems=tuple(found))


def _base(path: str, spec: FleetSpec) -> tuple[dict[str, Any], str]:
    """The base scenario as a raw mapping (validated on its own first) and how to name it.
    Relative paths resolve against the fleet file's folder (an inline base, a base file's
    path), or against the base file's own folder (the paths written in it)."""
    folder = absolute(path).parent
    if isinstance(spec.base, dict):
        raw = resolve_paths(copy.deepcopy(spec.base), folder)
        try:
            Scenario.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(problems=tuple(problems_of(path, exc, None,
                                                         prefix=("base",)))) from None
        return raw, f"{path}: base"
    file = folder / spec.base
    if not file.is_file():
        raise ConfigError(f"{path}: base: {spec.base!r} is not a file (looked for {file}); "
                          "give a scenario path relative to the fleet file", path=path,
                          field="base")
    load_scenario(file)  # the base's own errors, with its own lines
    raw, _ = load_yaml(file)
    if "testbed" not in raw:  # a bare testbed file
        raw = {"name": file.stem, "testbed": raw}
    return resolve_paths(raw, file.parent), str(file)


def _cells(path: str, spec: FleetSpec, base: dict[str, Any], base_label: str,
           backend: str | None, name: str, tree: yaml.Node | None) -> list[Cell]:
    plans: dict[str, list[dict[str, Any]] | None] = (
        dict(spec.faults) if spec.faults is not None else {"base": None})
    folder = absolute(path).parent
    loads = {name: resolve_paths({"workload": dict(load)}, folder)["workload"]
             for name, load in spec.loads.items()}
    cells: list[Cell] = []
    problems: list[Problem] = []
    for tb_name, variant in spec.testbeds.items():
        for plan_name, plan in plans.items():
            for load_name, load in loads.items():
                try:
                    cells.append(_cell(base, (tb_name, variant), (plan_name, plan),
                                       (load_name, load), backend, name))
                except ValueError as exc:
                    problems += _explain_cell(path, tree, exc, tb_name, plan_name, load_name)
    if problems:
        raise ConfigError(problems=tuple(dict.fromkeys(problems)))
    for cell in cells:
        check_files(cell.scenario, path, None)
    return cells


def _cell(base: dict[str, Any], tb: tuple[str, dict[str, Any]],
          plan: tuple[str, list[dict[str, Any]] | None], load: tuple[str, dict[str, Any]],
          backend: str | None, name: str) -> Cell:
    data = copy.deepcopy(base)
    data["testbed"] = apply_testbed(data.get("testbed") or {}, tb[1])
    if backend:
        data["testbed"]["backend"] = backend
    if plan[1] is not None:
        data["faults"] = copy.deepcopy(plan[1])
        data.pop("chaos", None)
    data["workload"] = merge(data.get("workload") or {}, load[1])
    data["name"] = f"{name}-{tb[0]}-{plan[0]}-{load[0]}"
    scn = Scenario.model_validate(data)
    return Cell(tb[0], plan[0], load[0], scn, data)


def _explain_cell(path: str, tree: yaml.Node | None, exc: ValueError, tb: str, plan: str,
                  load: str) -> list[Problem]:
    """A cell's problems, named by the fleet fields that made the cell."""
    cell = f"{tb}__{plan}__{load}"
    if not isinstance(exc, ValidationError):  # apply_testbed's "nodes.NAME: ..."
        sub, _, msg = str(exc).partition(": ")
        return [Problem(path, f"testbeds.{tb}.{sub}", None, f"{msg} (cell {cell})")]
    rename = (("faults[", f"faults.{plan}["), ("workload.", f"loads.{load}."),
              ("testbed.", f"testbeds.{tb}."))
    out = []
    for p in problems_of(path, exc, _cell_tree(tree, tb, plan, load)):
        field = next((p.field.replace(a, b, 1) for a, b in rename if p.field.startswith(a)),
                     p.field)
        out.append(Problem(path, field, p.line,
                           f"{p.message} (cell {cell}: testbeds.{tb} + faults.{plan} + "
                           f"loads.{load}); fix that entry or the base scenario"))
    return out


def _cell_tree(tree: yaml.Node | None, tb: str, plan: str, load: str) -> yaml.Node | None:
    """A node tree shaped like a scenario whose parts point at the fleet file's entries, so
    that errors carry the fleet file's line numbers."""
    if not isinstance(tree, yaml.MappingNode):
        return None
    top = {k.value: v for k, v in tree.value}

    def entry(axis: str, key: str) -> yaml.Node | None:
        node = top.get(axis)
        if isinstance(node, yaml.MappingNode):
            return next((v for k, v in node.value if k.value == key), None)
        return None

    pairs = [(s, entry(a, k)) for s, a, k in (("testbed", "testbeds", tb),
                                                ("faults", "faults", plan),
                                                ("workload", "loads", load))]
    value = [(yaml.ScalarNode("tag:yaml.org,2002:str", s), n) for s, n in pairs if n is not None]
    return yaml.MappingNode("tag:yaml.org,2002:map", value)


# ---------------------------------------------------------------- journal


def read_journal(path: Path) -> dict[str, dict[str, Any]]:
    """Finished cells by name (the last line of a cell wins); a torn last line is ignored."""
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "cell" in entry:
            done[entry["cell"]] = entry
    return done


def repair_journal(path: Path) -> None:
    """Cut a torn last line (a kill in the middle of a write) so the next append starts clean."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


def append_journal(path: Path, entry: dict[str, Any]) -> None:
    """One whole line with one write(2) on an O_APPEND file, then fsync."""
    line = (json.dumps(entry, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- running


@dataclass
class Certification:
    """The state of one certification: the fleet, where it writes, what is done."""

    fleet: Fleet
    out: Path
    backend: str | None
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    running: Cell | None = None  # the cell being run (a signal cuts it short)
    interrupted: str | None = None  # the signal that stopped the certification

    @property
    def journal(self) -> Path:
        return self.out / "journal.jsonl"

    def resume_command(self) -> str:
        cmd = f"edgeproof certify {shlex.quote(self.fleet.path)} --out {shlex.quote(str(self.out))}"
        return cmd + (f" --backend {self.backend}" if self.backend else "")


def unfinished(name: str, root: Path | None = None) -> Path | None:
    """The newest earlier certification of this fleet that has a journal but no end."""
    root = root or reports_root()
    found = sorted(root.glob(f"*-certify-{name}/journal.jsonl")) if root.is_dir() else []
    for j in reversed(found):
        cert = j.parent / "certification.json"
        if not cert.exists() or not json.loads(cert.read_text() or "{}").get("complete"):
            return j.parent
    return None


def resumable(path: Path) -> bool:
    """True for the folder of an earlier certification (the same --out resumes it)."""
    return (path / "journal.jsonl").exists() or (path / "certification.json").exists()


def claim_folder(out: Path | None, name: str, force: bool = False) -> OutClaim:
    """The certification's own folder, locked: ``out`` (an earlier certification there is
    resumed, or with ``force`` replaced; any other content is refused) or a fresh default."""
    if out is None:
        return claim_fresh(default_out(name, "certify"))
    return claim(absolute(out), force=force, owned=CERTIFY_FILES, what="certification",
                 reusable=None if force else resumable)


def certify(path: str, *, out: Path | None = None, backend: str | None = None,
            say: Say = print, force: bool = False,
            held: OutClaim | None = None) -> Certification:
    """Run every cell not already journaled as done; write the journal and the reports.
    ``held`` is the folder already claimed (by the CLI); a signal journals the cell it
    cut short as ``interrupted``, writes the reports so far and raises."""
    fleet = load_fleet(path, backend=backend)
    with held or claim_folder(out, fleet.name, force) as mine, interruptible():
        cert = Certification(fleet, mine.path, backend)
        try:
            return run_cells(cert, say)
        except KeyboardInterrupt as stop:
            stopped(cert, stop)
            raise


def stopped(cert: Certification, stop: KeyboardInterrupt) -> None:
    """Journal the cell a signal cut short as ``interrupted`` (a resume runs it again) and
    write the reports so far, marked interrupted."""
    cert.interrupted = str(getattr(stop, "name", "SIGINT"))
    cell = cert.running
    if cell is not None:
        outcome = getattr(stop, "outcome", None)
        why = (outcome.results.get("interrupted") or {}).get("reason") if outcome else None
        entry = {"cell": cell.name, "testbed": cell.testbed, "faults": cell.plan,
                 "load": cell.load, "digest": cell.digest, "out_dir": f"cells/{cell.name}",
                 "verdict": "interrupted", "exit_code": EXIT_CODE, "signal": cert.interrupted,
                 "failing": [{"name": "interrupted", "verdict": "interrupted",
                              "detail": why or f"interrupted by {cert.interrupted}"}],
                 "duration_s": 0.0, "finished_at": _now()}
        append_journal(cert.journal, entry)
        cert.results[cell.name] = entry
        cert.running = None
    write_reports(cert)


def run_cells(cert: Certification, say: Say) -> Certification:
    """The cells of the matrix, each journaled as it ends; the reports after each."""
    fleet = cert.fleet
    (cert.out / "cells").mkdir(exist_ok=True)
    repair_journal(cert.journal)
    journaled = read_journal(cert.journal)
    for i, cell in enumerate(fleet.cells, 1):
        prior = journaled.get(cell.name)
        if prior and prior.get("verdict") in DONE and prior.get("digest") == cell.digest:
            cert.results[cell.name] = {**prior, "resumed": True}
            cert.skipped.append(cell.name)
            say(f"skip cell {i}/{len(fleet.cells)} {cell.name}: {prior['verdict']} "
                "(done, in the journal)")
            continue
        say(f"cell {i}/{len(fleet.cells)} {cell.name}: running")
        cert.running = cell
        entry = run_cell(cert, cell, say)
        append_journal(cert.journal, entry)
        cert.results[cell.name] = entry
        cert.running = None
        say(f"cell {i}/{len(fleet.cells)} {cell.name}: {entry['verdict']} "
            f"({entry['duration_s']:.1f} s)")
        write_reports(cert)
    write_reports(cert)
    return cert


def run_cell(cert: Certification, cell: Cell, say: Say, attempts: int = 2) -> dict[str, Any]:
    """One cell, tried again once if the run could not be carried out (an infrastructure
    error, e.g. a port taken meanwhile); the journal entry of the last attempt."""
    entry: dict[str, Any] = {}
    for attempt in range(1, attempts + 1):
        entry = attempt_cell(cert, cell, say)
        entry["attempts"] = attempt
        if entry["verdict"] != "error":
            break
        if attempt < attempts:
            say(f"cell {cell.name}: {entry['failing'][0]['detail']}; trying once more")
    return entry


def attempt_cell(cert: Certification, cell: Cell, say: Say) -> dict[str, Any]:
    """One cell: a clean folder, a whole run (which writes its scenario.yaml); the journal
    entry."""
    d = cert.out / "cells" / cell.name
    if d.exists():
        shutil.rmtree(d)  # left by a killed run: start the cell over
    d.mkdir(parents=True)
    src = d / "scenario.yaml"
    t = time.monotonic()
    entry = {"cell": cell.name, "testbed": cell.testbed, "faults": cell.plan, "load": cell.load,
             "digest": cell.digest, "out_dir": f"cells/{cell.name}"}
    try:
        outcome = run_scenario(cell.scenario, out=d, say=say)
    except ConfigError:
        raise
    except EdgeproofError as exc:
        return {**entry, "verdict": "error", "exit_code": exc.exit_code,
                "failing": [{"name": "infrastructure", "detail": str(exc)}],
                "duration_s": time.monotonic() - t, "finished_at": _now()}
    failing = [{"name": c["name"], "verdict": c["verdict"], "detail": c["detail"]}
               for c in outcome.results.get("checks", []) if c["verdict"] != "pass"]
    return {**entry, "verdict": outcome.results["verdict"], "exit_code": outcome.exit_code,
            "failing": failing, "duration_s": time.monotonic() - t, "finished_at": _now(),
            "reproduce": f"edgeproof run {shlex.quote(str(src))}"}


def _now() -> str:
    return datetime.now(UTC).isoformat()


def overall(verdicts: list[str], complete: bool) -> str:
    """fail if any cell failed; unknown if none failed but some are unknown, errored or not
    run yet; pass only if every cell passed."""
    if "fail" in verdicts:
        return "fail"
    if not complete or any(v != "pass" for v in verdicts):
        return "unknown"
    return "pass"


def exit_code(cert: Certification) -> int:
    """0 every cell passed; 2 a cell could not run (infrastructure); else 1."""
    s = summary(cert)
    if cert.interrupted:
        return EXIT_CODE
    if s["errored_cells"]:
        return 2
    return 0 if s["verdict"] == "pass" else 1


def errors_once(s: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Why cells could not run, each cause once with the cells it stopped."""
    by: dict[str, list[str]] = {}
    for c in s["cells"]:
        if c["verdict"] == "error":
            cause = c["failing"][0]["detail"] if c.get("failing") else "unknown cause"
            by.setdefault(cause, []).append(c["cell"])
    return list(by.items())


# ---------------------------------------------------------------- reports


def summary(cert: Certification) -> dict[str, Any]:
    """certification.json: the fleet, the axes, every cell (in matrix order), the verdict."""
    cells = []
    for cell in cert.fleet.cells:
        r = cert.results.get(cell.name)
        cells.append(r or {"cell": cell.name, "testbed": cell.testbed, "faults": cell.plan,
                           "load": cell.load, "verdict": "not run", "failing": [],
                           "out_dir": f"cells/{cell.name}"})
    verdicts = [c["verdict"] for c in cells]
    complete = "not run" not in verdicts and "interrupted" not in verdicts
    counts = {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}
    verdict = "interrupted" if cert.interrupted else overall(verdicts, complete)
    return {"name": cert.fleet.name, "fleet": cert.fleet.path, "started_at": cert.started_at,
            "updated_at": _now(), "complete": complete, "verdict": verdict,
            "interrupted": cert.interrupted,
            "counts": counts, "axes": cert.fleet.axes(), "resumed_cells": cert.skipped,
            "errored_cells": [c["cell"] for c in cells if c["verdict"] == "error"],
            "resume": cert.resume_command(), "cells": cells}


def write_reports(cert: Certification) -> None:
    """certification.json, junit.xml and report.html, each written whole then renamed."""
    s = summary(cert)
    _atomic(cert.out / "certification.json", json.dumps(s, indent=2))
    _atomic(cert.out / "junit.xml", junit(s))
    _atomic(cert.out / "report.html", html_report(s))


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _explanations(cell: dict[str, Any]) -> str:
    """The failing checks' explanations (all checks that did not pass if none failed)."""
    checks = cell.get("failing", [])
    failed = [f for f in checks if f.get("verdict", "fail") == "fail"] or checks
    return "\n".join(f"{f['name']}: {f['detail']}" for f in failed)


def _why(cell: dict[str, Any]) -> str:
    """One line for the table: the first explanation and how many more there are (for a
    cell that could not run, a pointer to the cause printed once below the table)."""
    if cell["verdict"] == "error":
        return "could not run (the cause is below the table)"
    lines = _explanations(cell).splitlines()
    if not lines:
        return ""
    first = lines[0] if len(lines[0]) <= 110 else lines[0][:107] + "..."
    return first + (f" (+{len(lines) - 1} more)" if len(lines) > 1 else "")


def junit(s: dict[str, Any]) -> str:
    """One test case per cell: fail = failure (the failing checks' explanations); unknown,
    not run and infrastructure errors = error (never a green skipped)."""
    outcome = {"pass": "passed", "fail": "failure", "error": "error", "unknown": "error",
               "not run": "error", "interrupted": "error"}
    cases = []
    for c in s["cells"]:
        text = _explanations(c)
        o = outcome.get(c["verdict"], "error")
        cases.append(Case(f"edgeproof.certify.{c['testbed']}", c["cell"], o,
                          text.replace("\n", "; ") or c["verdict"],
                          text, c.get("duration_s", 0.0)))
    return junit_xml(f"edgeproof.certify.{s['name']}", cases,
                     sum(c.get("duration_s", 0.0) for c in s["cells"]))


_CSS = """body{font-family:sans-serif;margin:2em;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;
font-size:13px;text-align:left;vertical-align:top}.pass{background:#e6f4e6}
.fail{background:#fbe3e3}.unknown,.error,.interrupted{background:#fff6d6}
.not-run{background:#eee}
.verdict{font-size:1.4em}pre{white-space:pre-wrap;margin:0;font-size:12px}"""


def _badge(c: dict[str, Any]) -> str:
    v = html.escape(c["verdict"])
    if c["verdict"] == "not run":
        return v
    link = html.escape(f"{c['out_dir']}/report.html")
    return f'<a href="{link}">{v}</a> <small>{c.get("duration_s", 0):.0f} s</small>'


def html_report(s: dict[str, Any]) -> str:
    """Self-contained: rows testbed x load, columns fault plans, each cell its verdict
    linking to that cell's own report.html; then the failing checks' explanations."""
    by = {(c["testbed"], c["faults"], c["load"]): c for c in s["cells"]}
    axes = s["axes"]
    head = "<th>testbed</th><th>load</th>" + "".join(
        f"<th>faults: {html.escape(p)}</th>" for p in axes["faults"])
    rows = ""
    for tb in axes["testbeds"]:
        for ld in axes["loads"]:
            tds = "".join(
                f'<td class="{by[(tb, p, ld)]["verdict"].replace(" ", "-")}" '
                f'id="{html.escape(by[(tb, p, ld)]["cell"])}">{_badge(by[(tb, p, ld)])}</td>'
                for p in axes["faults"])
            rows += f"<tr><td>{html.escape(tb)}</td><td>{html.escape(ld)}</td>{tds}</tr>"
    details = "".join(
        f'<tr class="{c["verdict"]}"><td>{html.escape(c["cell"])}</td>'
        f'<td>{html.escape(c["verdict"])}</td><td><pre>{html.escape(_explanations(c))}'
        "</pre></td></tr>" for c in s["cells"] if c["verdict"] not in ("pass", "not run"))
    counts = ", ".join(f"{n} {v}" for v, n in s["counts"].items())
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>edgeproof certification: {html.escape(s['name'])}</title><style>{_CSS}</style></head>
<body><h1>Certification: {html.escape(s['name'])}</h1>
<p class="verdict" id="verdict">verdict: <b>{html.escape(s['verdict'])}</b> · {counts}
{'' if s['complete'] else ' · <b>incomplete</b>'}
{f" · <b>interrupted by {html.escape(s['interrupted'])}</b>" if s.get('interrupted') else ''}</p>
<p>fleet <code>{html.escape(s['fleet'])}</code> · started {html.escape(s['started_at'])} ·
resume or re-check with <code>{html.escape(s['resume'])}</code></p>
<h2>Matrix</h2><table id="matrix"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>
<h2>Cells that did not pass</h2>
<table><thead><tr><th>cell</th><th>verdict</th><th>why</th></tr></thead>
<tbody>{details or '<tr><td colspan="3">none</td></tr>'}</tbody></table></body></html>"""


def summary_table(cert: Certification) -> Any:
    """The rich table the CLI prints."""
    s = summary(cert)
    t = Table(title=f"certification {s['name']}: {s['verdict']}")
    for col in ("testbed", "faults", "load", "verdict", "time s"):
        t.add_column(col, no_wrap=True)
    t.add_column("why", overflow="fold", ratio=1)
    colour = {"pass": "green", "fail": "red", "unknown": "yellow", "error": "yellow"}
    for c in s["cells"]:
        v = c["verdict"]
        note = " (journal)" if c.get("resumed") else ""
        t.add_row(c["testbed"], c["faults"], c["load"], f"[{colour.get(v, 'dim')}]{v}[/]{note}",
                  f"{c.get('duration_s', 0):.1f}", escape(_why(c)))
    return t
