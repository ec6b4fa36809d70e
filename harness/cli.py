"""The `edgeproof` command line (the README's CLI table).

Bad input and infrastructure errors print one paragraph (file, field, fix) and exit 2, never a
traceback; a run exits 0 when every check passes and 1 when one does not. Commands import
what they need when they run (``# cost``): ``edgeproof --help`` pulls in no pandas.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer import rich_utils

from harness.errors import ConfigError, EdgeproofError
from harness.interrupts import EXIT_CODE, Interrupted
from harness.progress import Progress
from testbeds.state import is_running_run, is_stale, load_records, state_dir

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="edgeproof: stand up an edge testbed, inject faults, drive load, and "
                       "check what happened against what the models predicted.")
console = Console(stderr=True)
out = Console()

FileArg = Annotated[str, typer.Argument(help="scenario (or testbed) YAML file")]
BackendOpt = Annotated[str | None, typer.Option(
    "--backend", help="local, docker or swarm (Docker Swarm services on this engine)")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet",
                                        help="no progress (the verdicts are still printed)")]
UsageError: type[Exception] = typer.BadParameter.__bases__[0]  # typer's own click's
SEED_MAX = 2**32 - 1  # what numpy's and random's seeding accept, and hypothesis's too


def _check_seed(seed: int | None) -> None:
    """--seed is a whole number in 0..2**32-1 (bad input otherwise: exit 2)."""
    if seed is not None and not 0 <= seed <= SEED_MAX:
        raise ConfigError(f"--seed {seed}: out of range; give a whole number from 0 to "
                          f"{SEED_MAX} (2**32 - 1), e.g. --seed 7", field="--seed")


def _check_positive(value: float | None, option: str, example: str) -> None:
    """A time or budget option is a finite number above 0 (not NaN, not inf)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{option} {value}: give a finite number above 0, e.g. "
                          f"{option} {example}", field=option)


def _fail(exc: EdgeproofError) -> None:
    console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _current(run_id: str | None) -> Any:
    """The testbed `status`/`down` talk about: the given run, else the newest live one."""
    records = [r for r in load_records() if not is_stale(r)]
    if run_id:
        records = [r for r in records if r.run_id == run_id]
    if not records:
        return None
    detached = [r for r in records if r.detached]
    return (detached or records)[-1]


@app.command()
def up(file: FileArg, backend: BackendOpt = None) -> None:
    """Stand up the testbed of a scenario or testbed file and leave it running."""
    from harness.runner import new_run_id, stand_up  # cost: the runner's imports
    from harness.scenario import load_scenario  # cost: pydantic models
    try:
        scn = load_scenario(file, overrides={"testbed.backend": backend} if backend else None)
        run_id = new_run_id()
        workdir = state_dir() / "work" / run_id
        with console.status("standing up") as st:
            tb = stand_up(scn, run_id=run_id, workdir=workdir, detached=True,
                          say=lambda m: st.update(m), scenario_path=str(Path(file).resolve()))
        _print_status(tb.status())
        console.print(f"testbed [bold]{run_id}[/] is up; `edgeproof down` stops it")
    except EdgeproofError as exc:
        _fail(exc)


def _tree(st: dict[str, Any]) -> Any:
    """The tiered topology as a rich tree (each node with its tier and health)."""
    from rich.tree import Tree  # cost: only for a tiered testbed's status

    healthy = {n["name"]: n["healthy"] for n in st["nodes"]}
    root = Tree("topology")
    stack: list[Any] = [root]
    for row in st["tree"]:
        del stack[row["depth"] + 1:]
        mark = "[green]up[/]" if healthy.get(row["name"]) else "[red]down[/]"
        stack.append(stack[-1].add(f"{row['name']} ({row['tier']}, {mark})"))
    return root


def _print_status(st: dict[str, Any]) -> None:
    t = Table(title=f"{st['name']} ({st['run_id']}, {st['backend']}; toxiproxy {st['toxiproxy']})")
    for col in ("node", "tier", "address", "client proxy", "pid", "healthy", "limits"):
        t.add_column(col)
    for n in st["nodes"]:
        addr = ", ".join(f"{n['host']}:{p}" for p in n["ports"].values())
        t.add_row(n["name"], n["tier"], addr, str(n["client_url"] or "-"),
                  str(n["pid"] or n.get("container") or "-"),
                  "[green]yes[/]" if n["healthy"] else "[red]no[/]", n["limits"])
    out.print(t)
    p = Table(title="proxies")
    for col in ("proxy", "listen", "upstream"):
        p.add_column(col)
    for pr in st["proxies"]:
        p.add_row(f"{pr['src']} -> {pr['dst']} ({pr['port_name']})", pr["listen"], pr["upstream"])
    out.print(p)
    if st.get("tree"):
        out.print(_tree(st))
    faults = st["active_faults"]
    out.print("active faults: " + (", ".join(f"{f['kind']} {f['target']}" for f in faults)
                                   if faults else "none"))


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
           run_id: Annotated[str | None, typer.Option("--run-id")] = None) -> None:
    """Nodes, health, addresses, proxies and active faults of the running testbed."""
    record = _current(run_id)
    if record is None:
        if as_json:
            out.print_json(json.dumps({"testbeds": []}))
        else:
            out.print("no testbed is running (start one with `edgeproof up FILE`)")
        return
    from testbeds.backends import attach  # cost: the backends' imports
    st = attach(record).status()
    if as_json:
        print(json.dumps(st, indent=2))
    else:
        _print_status(st)


@app.command()
def down(run_id: Annotated[str | None, typer.Option("--run-id")] = None,
         force: Annotated[bool, typer.Option(
             "--force", help="take down a testbed that a running `edgeproof run` owns (that run "
             "then ends `unknown: testbed lost`)")] = False) -> None:
    """Stop the running testbed (the newest one `up` started, or --run-id; never a run's)."""
    record = _current(run_id)
    if record is not None and is_running_run(record) and not force:
        if run_id:
            _refuse_running(record)
        record = next((r for r in reversed(load_records()) if r.detached), None)
    if record is None:
        out.print("no testbed started by `edgeproof up` is running" + _running_runs())
        return
    from testbeds.reaper import reap  # cost: the reaper's imports
    rep = reap(record)
    out.print(f"testbed {record.run_id} down: {len(rep.processes)} process(es), "
              f"{len(rep.cgroups)} cgroup(s), {len(rep.containers)} container(s), "
              f"{len(rep.volumes)} volume(s) removed")
    if rep.left:
        console.print(f"[yellow]could not remove:[/] {', '.join(rep.left)}")


def _refuse_running(record: Any) -> None:
    """Exit 2: this testbed belongs to a running run, which would lose it."""
    console.print(
        f"[red]error:[/] testbed {record.run_id} belongs to a running `edgeproof run` "
        f"(pid {record.owner_pid}, scenario {record.scenario_path or record.name}); taking it "
        "down would end that run as `unknown: testbed lost`. Stop the run (Ctrl-C) instead, "
        "or pass --force to take it down anyway", soft_wrap=True)
    raise typer.Exit(2)


def _running_runs() -> str:
    runs = [r.run_id for r in load_records() if is_running_run(r)]
    return (f"; {len(runs)} running `edgeproof run`(s) own their testbeds ({', '.join(runs)}): "
            "`edgeproof down --run-id ID --force` takes one down") if runs else ""


@app.command()
def clean(force: Annotated[bool, typer.Option(
        "--force", help="also reap testbeds of runs that are still alive")] = False) -> None:
    """Reap everything any run left: processes, proxies, cgroups, containers, clocks."""
    from testbeds.reaper import clean as do_clean  # cost: the reaper's imports
    rep = do_clean(force=force)
    if rep.empty:
        out.print("nothing to clean")
        return
    out.print(f"reaped {len(rep.testbeds)} testbed(s): {len(rep.processes)} process(es), "
              f"{len(rep.cgroups)} cgroup(s), {len(rep.containers)} container(s), "
              f"{len(rep.networks)} network(s), {len(rep.volumes)} volume(s)")
    if rep.left:
        console.print(f"[yellow]could not remove:[/] {', '.join(rep.left)}")


@app.command()
def predict(file: FileArg, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Model predictions only; nothing is started."""
    from harness.models.latency import predict as do_predict  # cost: the models' imports
    from harness.scenario import load_scenario  # cost: pydantic models
    try:
        scn = load_scenario(file)
    except EdgeproofError as exc:
        _fail(exc)
    from harness.models.pipeline import predict_pipeline  # cost: the models' imports
    from harness.models.rollout import predict_rollouts  # cost: the models' imports
    pipe, outs = predict_pipeline(scn), [r.as_dict() for r in predict_rollouts(scn)]
    if pipe is not None:
        _print_pipeline(scn.name, pipe, as_json, outs)
        return
    pred = do_predict(scn)
    if as_json:
        from harness.report import clean as clean_json  # cost: pandas
        extra = {"rollouts": outs} if outs else {}
        print(json.dumps(clean_json({**pred.as_dict(), **extra}), indent=2))
        return
    t = Table(title=f"{scn.name}: predicted latency per phase (model {pred.model}, "
                    "before calibration)")
    for col in ("phase", "from s", "to s", "mean ms", "p50", "p95", "p99", "throughput/s"):
        t.add_column(col)
    for p in pred.phases:
        lat = p.latency_ms
        t.add_row(p.phase.name, f"{p.phase.start_s:g}", f"{p.phase.end_s:g}",
                  *(f"{lat.get(k, float('nan')):.2f}" for k in ("mean", "p50", "p95", "p99")),
                  f"{p.throughput_rps:.1f}")
    out.print(t)
    out.print(f"bottleneck: {pred.bottleneck}; saturates at about "
              f"{pred.saturation_users:.0f} users (MVA asymptotic bound)")
    _print_rollouts(outs)


def _print_rollouts(outs: list[dict[str, Any]]) -> None:
    """The control plane's predicted convergence per rollout."""
    if not outs:
        return
    r0 = outs[0]
    t = Table(title=f"rollouts: seconds after the publish ({r0['mode']}, {r0['nodes']} "
                    f"nodes, depth {r0['depth']})")
    for col in ("version", "at s", "to 50%", "to 90%", "to all", "range", "held by"):
        t.add_column(col)
    for r in outs:
        fr, rng = r["fractions"], r["range_s"]
        t.add_row(f"v{r['version']}", f"{r['at_s']:g}", f"{fr['0.5']:.3f}", f"{fr['0.9']:.3f}",
                  f"{r['to_all_s']:.3f}", f"{rng[0]:.2f}-{rng[1]:.2f}",
                  ", ".join(f"fault {h.split(':')[0]}" for h in r["held_by"]) or "-")
    out.print(t)
    held = {h for r in outs for h in r["held_by"]}
    for h in sorted(held):
        out.print(f"held by fault {h}")


def _print_pipeline(name: str, pipe: Any, as_json: bool,
                    outs: list[dict[str, Any]] | None = None) -> None:
    """The pipeline models' predictions: per gateway path, per uplink, per cut."""
    if as_json:
        from harness.report import clean as clean_json  # cost: pandas
        extra = {"rollouts": outs} if outs else {}
        print(json.dumps(clean_json({"pipeline": pipe.as_dict(), **extra}), indent=2))
        return
    t = Table(title=f"{name}: end to end, per gateway (tandem model; network-calculus bound)")
    for col in ("gateway", "devices", "readings/s", "mean ms", "bound ms"):
        t.add_column(col)
    for g, n in pipe.devices.items():
        b = pipe.nc_bound_ms.get(g)
        t.add_row(g, str(n), f"{n * pipe.device_rate_hz:g}", f"{pipe.e2e_mean_ms[g]:.1f}",
                  "none" if b is None else f"{b:.1f} (+{pipe.slack_ms:.0f} slack)")
    out.print(t)
    u = Table(title="uplinks (one batch in flight)")
    for col in ("node", "parent", "readings/s in", "capacity/s", "utilisation",
                "backlog bound"):
        u.add_column(col)
    for h in pipe.hops:
        bb = pipe.nc_backlog.get(h.node)
        u.add_row(h.node, h.parent, f"{h.rate_in:g}", f"{h.capacity_rps:.0f}",
                  f"{h.utilisation:.1%}", "none" if bb is None else f"{bb:.0f}")
    out.print(u)
    if pipe.cuts:
        c = Table(title="uplink cuts")
        for col in ("fault", "node", "for s", "backlog", "loss", "drain s", "staleness s"):
            c.add_column(col)
        for x in pipe.cuts:
            c.add_row(str(x.fault), x.node, f"{x.duration_s:g}", f"{x.backlog:.0f}",
                      f"{x.loss:.0f}", "never" if x.drain_s is None else f"{x.drain_s:.2f}",
                      f"{x.staleness_s:.2f}")
        out.print(c)
    for note in pipe.notes:
        out.print(f"note: {note}")
    out.print(f"bottleneck: {pipe.bottleneck}; the fleet saturates at about "
              f"{pipe.saturation_rate_hz:.1f} readings/s per device (utilisation law)")
    _print_rollouts(outs or [])


@app.command()
def run(file: FileArg,
        out_dir: Annotated[Path | None, typer.Option("--out", help="run directory")] = None,
        backend: BackendOpt = None,
        seed: Annotated[int | None, typer.Option(
            "--seed", help=f"override the seed (0 to {SEED_MAX})")] = None,
        quiet: QuietOpt = False,
        force: Annotated[bool, typer.Option(
            "--force", help="let --out be a folder that holds an earlier run (replaced)")
        ] = False) -> None:
    """Run one whole scenario: testbed, load, faults, checks, report.

    Exit 0 every check passed, 1 one failed or is unknown, 2 bad input or infrastructure,
    130 interrupted (SIGINT, SIGTERM, SIGHUP: healed, torn down, results written).
    """
    try:
        _check_seed(seed)
        from harness.runner import run as do_run  # cost: the runner's imports
        with Progress(console, quiet=quiet) as say:
            outcome = do_run(file, out=out_dir, backend=backend, seed=seed, say=say,
                             force=force)
    except EdgeproofError as exc:
        _fail(exc)
    except Interrupted as stop:
        _print_interrupted(stop)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted before the run began: nothing was started[/]")
        raise typer.Exit(EXIT_CODE) from None
    _print_verdicts(outcome)
    raise typer.Exit(outcome.exit_code)


def _print_interrupted(stop: Interrupted) -> None:
    """An interrupted run: why, what was kept, where; exit 130."""
    outcome = stop.outcome
    if outcome is None:
        console.print(f"[yellow]interrupted by {stop.name}: faults healed, testbed torn "
                      "down[/]", soft_wrap=True)
        raise typer.Exit(EXIT_CODE)
    res = outcome.results
    w = res["workload"]
    console.print(f"[yellow]{escape(res['interrupted']['reason'])}[/]", soft_wrap=True)
    out.print(f"{res['name']}: interrupted; {w['ops']} ops recorded ({w['ok']} ok, "
              f"{w['fail']} fail, {w['info']} info); results.json, report.html and junit.xml "
              f"in {outcome.out_dir}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_CODE)


SATURATED = "unknown: harness saturated"


def _verdict_table(name: str, verdict: str, checks: list[dict[str, Any]]) -> Table:
    t = Table(title=f"{name}: {verdict}")
    for col in ("check", "verdict", "predicted", "measured", "detail"):
        t.add_column(col, overflow="fold")
    colour = {"pass": "green", "fail": "red", "unknown": "yellow"}
    for c in checks:
        detail = str(c["detail"])
        if detail.startswith(SATURATED):  # said once, in the banner above the table
            detail = detail.split(". ", 1)[-1]
        t.add_row(escape(c["name"]), f"[{colour[c['verdict']]}]{c['verdict']}[/]",
                  str(c["predicted"]), str(c["measured"]), escape(detail))
    return t


def _banner(checks: list[dict[str, Any]], warnings: list[str]) -> None:
    """What concerns the whole run, once: a saturated harness, the load's warnings."""
    saturated = next((str(c["detail"]).split(". ", 1)[0] for c in checks
                      if str(c["detail"]).startswith(SATURATED)), None)
    if saturated:
        out.print(f"[bold yellow]{escape(saturated.removeprefix('unknown: '))}[/]: the "
                  "harness, not the system under test, was the bottleneck, so the verdicts "
                  "judged on load figures below are unknown", soft_wrap=True)
    for w in warnings:
        out.print(f"[yellow]warning:[/] {escape(w)}", soft_wrap=True)


def _print_verdicts(outcome: Any) -> None:
    res = outcome.results
    _banner(res["checks"], res.get("warnings") or [])
    out.print(_verdict_table(res["name"], res["verdict"], res["checks"]))
    w = res["workload"]
    lat = res["latency_ms"]["mean"]
    mean = f"{lat:.2f} ms" if isinstance(lat, float | int) else "-"
    out.print(f"{w['ops']} ops ({w['ok']} ok, {w['fail']} fail, {w['info']} info), "
              f"{w['throughput_rps']:.1f} ok/s, mean {mean}; artefacts in {outcome.out_dir}",
              highlight=False, soft_wrap=True)
    if outcome.exit_code:
        out.print(f"to reproduce: {res['reproduce']}", highlight=False, soft_wrap=True,
                  markup=False)


@app.command()
def check(history: Annotated[str, typer.Argument(
              help="history JSONL file, or a run directory to judge again")],
          model: Annotated[str, typer.Option("--model", help="consistency model")] = "linearizable",
          as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
          budget_s: Annotated[float, typer.Option(
              "--budget-s", help="search time per key before `unknown`")] = 30.0) -> None:
    """Check a recorded history (ours or anyone's in this format) against a consistency model,
    or judge a finished run again from its directory (the run's checks, from disk).

    Exit 0 holds (or the run passes), 1 violated (with a minimal witness) or unknown, 2 bad
    input.
    """
    from harness import check_command  # cost: the checkers' imports
    try:
        _check_positive(budget_s, "--budget-s", "30")
        if Path(history).is_dir():
            _recheck(history, as_json)
        res = check_command.run_check(history, model, budget_s)
    except EdgeproofError as exc:
        _fail(exc)
    if as_json:
        print(check_command.as_json(res))
    else:
        for t in check_command.witness_tables(res):
            out.print(t)
        out.print(res.summary(), highlight=False, soft_wrap=True)
    raise typer.Exit(0 if res.verdict == "pass" else 1)


def _recheck(run_dir: str, as_json: bool) -> None:
    """`edgeproof check RUN_DIR`: the run's checks again; exits as the run did."""
    from harness import check_command  # cost: the checkers' imports
    run, verdicts, verdict = check_command.recheck(run_dir)
    checks = [v.as_dict() for v in verdicts]
    if as_json:
        from harness.report import clean as clean_json  # cost: pandas
        print(json.dumps(clean_json({"run_dir": str(run.path), "verdict": verdict,
                                     "checks": checks}), indent=2))
    else:
        out.print(_verdict_table(str(run.results.get("name")), verdict, checks))
        was = run.results.get("verdict")
        out.print(f"re-checked {run.path} from disk: {verdict} (the run said {was})",
                  highlight=False, soft_wrap=True)
    raise typer.Exit(0 if verdict == "pass" else 1)


@app.command()
def images(base: Annotated[str | None, typer.Option(
        "--base", help="base image for the service (default: $EDGEPROOF_DOCKER_BASE, "
                       "python:3.12-slim if present, else a debootstrap base built here)")] = None
           ) -> None:
    """Build the docker backend's images that are missing (cached by content hash)."""
    from testbeds.docker import connect  # cost: the docker backend's imports
    from testbeds.images import timed_ensure  # cost: as above
    try:
        built, took = timed_ensure(connect(), base, say=lambda m: console.print(m))
    except EdgeproofError as exc:
        _fail(exc)
    out.print(f"base {built.base}\nservice {built.service}\ntoxiproxy {built.toxiproxy}\n"
              f"({took:.1f} s)")


@app.command("install-toxiproxy")
def install_toxiproxy() -> None:
    """Build the pinned Toxiproxy server with Go into the tools folder (idempotent)."""
    from testbeds.toxiproxy.server import install_toxiproxy as do_install  # cost: psutil
    try:
        path = do_install()
    except EdgeproofError as exc:
        _fail(exc)
    out.print(f"toxiproxy-server: {path}")


def main() -> None:
    """The console script: any EdgeproofError a command did not catch (status, down, clean
    against an unreachable engine, say) and any bad use of the command line (an unknown
    flag, a value of the wrong kind) is one paragraph and exit 2, never a traceback."""
    try:
        code = app(standalone_mode=False)
    except EdgeproofError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `edgeproof` alone: the help
            rich_utils.rich_format_error(exc)  # type: ignore[arg-type]
        else:
            console.print(f"[bold red]error:[/] {escape(usage_message(exc, sys.argv[1:]))}",
                          highlight=False, soft_wrap=True)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except typer.Abort:
        console.print("aborted", highlight=False)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def usage_message(exc: Any, argv: list[str]) -> str:
    """One paragraph for a bad command line: the command, the option and the value given,
    what is wrong and where the fix is (the command's --help)."""
    ctx = getattr(exc, "ctx", None)
    cmd = ctx.command_path if ctx is not None else "edgeproof"
    what = str(exc.format_message()).strip().rstrip(".")
    param = getattr(exc, "param", None)
    if isinstance(exc, typer.BadParameter) and getattr(param, "param_type_name", "") == "option":
        value = given(argv, list(param.opts))
        if value is not None:
            raw = str(exc.message).strip().rstrip(".")
            what = f"{param.opts[-1]} {value!r}: {raw[:1].lower() + raw[1:]}"
    about = "its options and the values they take" if ctx is None or ctx.parent else \
        "its commands"
    return f"{cmd}: {what[:1].lower() + what[1:]}; see `{cmd} --help` for {about}"


def given(argv: list[str], opts: list[str]) -> str | None:
    """The value given on the command line for one of ``opts`` (``--x v`` or ``--x=v``)."""
    for i, arg in enumerate(argv):
        if arg in opts and i + 1 < len(argv):
            return argv[i + 1]
        name, eq, value = arg.partition("=")
        if eq and name in opts:
            return value
    return None


# ---------------------------------------------------------------- explore (issue 7, item 4)


@app.command()
def explore(
        file: FileArg,
        budget: Annotated[int, typer.Option(
            "--budget", help="at most this many runs, shrinking included")] = 20,
        budget_minutes: Annotated[float | None, typer.Option(
            "--budget-minutes", help="stop starting runs after this many minutes")] = None,
        out_dir: Annotated[Path | None, typer.Option(
            "--out", help="output folder (default reports/<timestamp>-explore-<name>/)")] = None,
        seed: Annotated[int | None, typer.Option(
            "--seed", help=f"hypothesis seed, 0 to {SEED_MAX} (default: the scenario's "
                           "seed)")] = None,
        duration_s: Annotated[float | None, typer.Option(
            "--duration-s", help="shorten the workload while exploring")] = None,
        max_faults: Annotated[int | None, typer.Option(
            "--max-faults", help="at most this many faults per schedule")] = None,
        min_faults: Annotated[int | None, typer.Option(
            "--min-faults", help="at least this many faults (1 skips the fault-free run)")] = None,
        quiet: QuietOpt = False,
        force: Annotated[bool, typer.Option(
            "--force", help="let --out be a folder that holds an earlier exploration "
                            "(replaced)")] = False,
) -> None:
    """Search fault schedules (hypothesis); shrink a failing one to DIR/minimal.yaml.

    Exit 0 none failed (and at least one run completed), 1 found one, 2 bad input or no run
    could complete, 130 interrupted (explore.json and explore.html keep the runs so far).
    """
    try:
        _check_seed(seed)
        _check_positive(budget_minutes, "--budget-minutes", "30")
        _check_positive(duration_s, "--duration-s", "8")
        from harness.explore import explore as do_explore  # cost: hypothesis and the runner
        with Progress(console, quiet=quiet) as progress:
            res = do_explore(file, budget=budget, budget_minutes=budget_minutes, out=out_dir,
                             seed=seed, duration_s=duration_s, max_faults=max_faults,
                             min_faults=min_faults, say=lambda m: _say(progress, m),
                             force=force)
    except EdgeproofError as exc:
        _fail(exc)
    except KeyboardInterrupt as stop:
        where = getattr(getattr(stop, "outcome", None), "out_dir", None)
        console.print("[yellow]interrupted: faults healed, testbed torn down; explore.json "
                      "and explore.html have the runs so far[/]"
                      f"{f' in {where}' if where else ''}", soft_wrap=True, highlight=False)
        raise typer.Exit(EXIT_CODE) from None
    out.print(res.summary, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(res.exit_code)


def _say(progress: Progress, message: str) -> None:
    """Progress: one line per run or cell (kept), inner run messages as progress."""
    if message.startswith(("run ", "cell ", "confirming", "skip")):
        progress.keep(message)
    else:
        progress(message)


# ---------------------------------------------------------------- certify (issue 7, item 3)


@app.command()
def certify(
        fleet: Annotated[str, typer.Argument(help="fleet YAML file (base x testbeds x faults "
                                                  "x loads)")],
        out_dir: Annotated[Path | None, typer.Option(
            "--out", help="certification folder; the same --out resumes "
                          "(default reports/<timestamp>-certify-<name>/)")] = None,
        backend: BackendOpt = None,
        quiet: QuietOpt = False,
        force: Annotated[bool, typer.Option(
            "--force", help="start over: replace the certification in --out instead of "
                            "resuming it (or write into a folder that holds other files)")
        ] = False,
) -> None:
    """A matrix of scenarios (testbeds x faults x loads): a verdict per cell and overall.

    Exit 0 every cell passed, 1 a cell failed or is unknown, 2 bad input or a cell that could
    not run, 130 interrupted (the journal and reports keep the cells so far). Re-run with
    the same --out to resume.
    """
    from harness import certify as cf  # cost: the runner's imports
    cert = None
    try:
        fl = cf.load_fleet(fleet, backend=backend)
        if out_dir is None and (old := cf.unfinished(fl.name)) is not None:
            console.print(f"note: an unfinished certification of {fl.name} is in {old}; "
                          f"resume it with --out {old}", highlight=False)
        held = cf.claim_folder(out_dir, fl.name, force)
        target = held.path
        cert = cf.Certification(fl, target, backend)
        done = cf.read_journal(cert.journal)
        if done:
            console.print(f"resuming {target}: {len(done)} cell(s) in the journal; cells "
                          "already done are skipped", highlight=False)
        console.print(f"{len(fl.cells)} cell(s) -> {target}; if interrupted, resume with: "
                      f"{cert.resume_command()}", highlight=False, soft_wrap=True)
        with Progress(console, quiet=quiet) as progress:
            cert = cf.certify(fleet, out=target, backend=backend,
                              say=lambda m: _say(progress, m), held=held)
    except EdgeproofError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        again = cert.resume_command() if cert else f"edgeproof certify {fleet}"
        where = f"; journal.jsonl and certification.json in {cert.out}" if cert else ""
        console.print(f"[yellow]interrupted: faults healed, testbed torn down{where}. Resume "
                      f"with:[/] {again}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_CODE) from None
    assert cert is not None
    out.print(cf.summary_table(cert))
    s = cf.summary(cert)
    for cause, cells in cf.errors_once(s):
        console.print(f"[yellow]{len(cells)} cell(s) could not run[/] ({', '.join(cells)}): "
                      f"{escape(cause)}", highlight=False, soft_wrap=True)
    errored = f"; cells that could not run: {', '.join(s['errored_cells'])}" \
        if s["errored_cells"] else ""
    out.print(f"certify {s['name']}: {s['verdict']} "
              f"({', '.join(f'{n} {v}' for v, n in s['counts'].items())}){errored}; "
              f"report: {cert.out / 'report.html'}", highlight=False, soft_wrap=True)
    raise typer.Exit(cf.exit_code(cert))


if __name__ == "__main__":  # python -m harness.cli: the full CLI, no fast path
    main()
