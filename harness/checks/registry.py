"""Every check, registered once, and the one loop that runs them (Jepsen's ``check-safe``).

A check is a function from the run's :class:`Evidence` to one or more verdicts, named after
its field in the scenario's ``checks:`` block. The loop runs the configured ones in order; a
check that crashes gives ``unknown`` (never ``pass``). When the harness itself was saturated,
the checks judged against load figures (latency, availability) become ``unknown``; history
checks keep their verdict, with a note on a pass: a slow harness only widens the recorded
intervals, which can hide a violation but not invent one.
"""

from __future__ import annotations

import itertools
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from harness.checks.availability import availability_check
from harness.checks.consistency import consistency_check
from harness.checks.delivery import delivery_check, pipeline_check
from harness.checks.durability import durability_check
from harness.checks.evidence import Evidence
from harness.checks.latency import latency_check
from harness.checks.lost_updates import lost_updates_check
from harness.checks.recovery import recovery_check
from harness.checks.rollout import rollout_check
from harness.checks.staleness import staleness_check
from harness.checks.verdict import PASS, UNKNOWN, Verdict


@dataclass(frozen=True)
class Check:
    """A registered check: its name (the ``checks:`` field), the function, and whether a
    saturated harness turns its verdicts ``unknown`` (load figures) or only notes it."""

    name: str
    run: Callable[[Evidence], list[Verdict]]
    load_figures: bool
    safety: tuple[str, ...] = ()  # verdict kinds of a load-figure check judged on the record


CHECKS: tuple[Check, ...] = (
    Check("consistency", consistency_check, load_figures=False),
    Check("durability", durability_check, load_figures=False),
    Check("lost_updates", lost_updates_check, load_figures=False),
    Check("staleness", staleness_check, load_figures=True),  # PBS timing: a figure
    Check("latency", latency_check, load_figures=True),
    Check("availability", availability_check, load_figures=True),
    Check("recovery", recovery_check, load_figures=True),  # completion rates: a figure
    Check("delivery", delivery_check, load_figures=False),  # ids in the history
    Check("pipeline", pipeline_check, load_figures=True),  # latency, drain: figures
    Check("rollout", rollout_check, load_figures=True,  # convergence times: figures;
          safety=("version_order",)),  # the order of applied versions: the record
)


def check_safe(check: Check, ev: Evidence) -> list[Verdict]:
    """Run one check; a crash is one ``unknown`` verdict with the error."""
    try:
        return list(check.run(ev))
    except Exception as exc:  # a crashed checker is unknown, not pass
        tb = traceback.format_exc(limit=3)
        return [Verdict(check.name, check.name, UNKNOWN,
                        detail=f"checker crashed: {exc!r}\n{tb}")]


def run_checks(ev: Evidence) -> list[Verdict]:
    """Run every check the scenario configures, in registry order."""
    configured = ev.scenario.checks.configured()
    out: list[Verdict] = []
    for check in CHECKS:
        if check.name not in configured:
            continue
        verdicts = check_safe(check, ev)
        for v in verdicts:
            problem = ev.harness_problem or ev.phase_problems.get(v.phase or "")
            if not problem:
                continue
            figure = check.load_figures and v.kind not in check.safety
            if figure and not v.detail.startswith("checker crashed"):
                v.verdict = UNKNOWN  # the harness, not the system, was the bottleneck
                v.detail = f"unknown: {problem}. {v.detail}"
            elif not figure and v.verdict == PASS:
                v.detail = f"{v.detail} (note: {problem})"
        out += verdicts
    return out


def judge(ev: Evidence) -> list[Verdict]:
    """The verdicts of a run: every configured check, gated by what its faults did (see
    :func:`gate`), or one ``unknown`` when nothing was checked (never a pass)."""
    verdicts = gate(run_checks(ev), ev)
    if ev.testbed_lost:
        for v in verdicts:
            v.verdict = UNKNOWN
            v.detail = f"unknown: testbed lost: {ev.testbed_lost}. {v.detail}"
        return verdicts or [Verdict("testbed lost", "none", UNKNOWN,
                                    detail=f"unknown: testbed lost: {ev.testbed_lost}")]
    if verdicts:
        return verdicts
    return [Verdict("nothing checked", "none", UNKNOWN, detail=(
        "unknown: nothing checked: the scenario's checks: block configures no check that "
        "gave a verdict; add one (latency, availability, consistency, durability, "
        "lost_updates, staleness, recovery, delivery, pipeline, rollout)"))]


def fault_problems(ev: Evidence) -> dict[int, str]:
    """Faults whose windows cannot be judged, by index: one that failed to apply, had no
    effect, or met no traffic (the fault never happened, so nothing was tested)."""
    out = {}
    for i, f in enumerate(ev.faults):
        what = f"{f.get('kind')} {f.get('target')}"
        if not f.get("ok", True):
            out[i] = f"the {what} did not apply ({f.get('error')})"
        elif f.get("effect") == "none":
            out[i] = f"the {what} had no effect ({f.get('evidence')})"
        elif f.get("traffic") == "none":
            out[i] = f"the {what} touched no traffic"
    return out


def gate(verdicts: list[Verdict], ev: Evidence) -> list[Verdict]:
    """A fault that did not happen makes every verdict of its window ``unknown`` with the
    reason, and a whole-run pass ``unknown`` too (a fail stays: a violation found is real);
    an unverified fault is named beside the verdicts of its window."""
    problems = fault_problems(ev)
    unverified = {i: f"{f.get('kind')} {f.get('target')}" for i, f in enumerate(ev.faults)
                  if f.get("effect") == "unverified" and i not in problems}
    faults_of = {p.name: set(p.faults) for p in ev.phases}
    healed = {p.name: set(prev.faults) for prev, p in itertools.pairwise(ev.phases)
              if p.kind == "recovery"}  # a recovery check judges the heal of what came before
    for v in verdicts:
        if v.kind == "recovery" and v.phase in healed:
            mine = healed[v.phase]
            if bad := [problems[i] for i in sorted(mine) if i in problems]:
                v.verdict = UNKNOWN
                v.detail = f"unknown: {'; '.join(bad)}. {v.detail}"
            continue
        mine = faults_of.get(v.phase, set()) if v.phase is not None else set(problems)
        bad = [problems[i] for i in sorted(mine) if i in problems]
        if bad and (v.phase is not None or v.verdict == PASS):
            v.verdict = UNKNOWN
            v.detail = f"unknown: {'; '.join(bad)}. {v.detail}"
        elif v.phase is not None and (names := [unverified[i] for i in sorted(
                faults_of.get(v.phase, set())) if i in unverified]):
            v.detail = f"{v.detail} (effect unverified: {', '.join(names)})"
    return verdicts
