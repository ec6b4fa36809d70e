"""The linearizability checker: classic cases, teeth (hypothesis) and cross-checks.

Oracles: a brute-force search over all orders (tiny histories) checks Wing-Gong/Lowe; the
Wing-Gong/Lowe search checks the Gibbons-Korach read-mapping test; simulated atomic registers
(harness.lin_gen) must pass, and the same with one stale read must fail with that read in the
witness.
"""

from __future__ import annotations

import ctypes
import gc
import itertools
import json
import math
import os
import random
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.check_command import run_check
from harness.checks.lin import native
from harness.checks.lin.check import (
    FAIL,
    PASS,
    UNKNOWN,
    check_file,
    check_history,
    check_key,
    check_ops,
    closure,
)
from harness.checks.lin.gen import inject_stale_read, simulate_register
from harness.checks.lin.mapping import eligible, read_mapping_check
from harness.checks.lin.ops import Op, by_key, make_op, ops_from_events, paused_gc
from harness.checks.lin.wgl import wgl_check
from harness.errors import ConfigError
from workloads.history import read_history

INF = math.inf


def H(*rows: tuple[Any, ...]) -> list[Op]:
    """Ops on key "x" from (process, f, value, start, end[, type]); end None = info."""
    out = []
    for i, (p, f, v, s, e, *t) in enumerate(rows):
        typ = t[0] if t else ("info" if e is None else "ok")
        op = make_op(i, p, f, "x", v, s, e, typ, "n1")
        if op is not None:
            out.append(op)
    return out


def both(ops: list[Op]) -> str:
    """The verdict, asserting the two algorithms agree where both apply."""
    w = wgl_check(ops)[0]
    if eligible(ops):
        g = PASS if read_mapping_check(ops) is None else FAIL
        assert g == w, f"read-mapping {g} vs wgl {w} on {ops}"
    return w


# ---------------------------------------------------------------- classic cases

GOOD = {
    # Porcupine's register tests (from MIT 6.824 quiz 2017, VIII), initial 0 -> null.
    "porcupine-ok": H((0, "write", 100, 0, 100), (1, "read", 100, 25, 75),
                      (2, "read", None, 30, 60)),
    "concurrent-write-read-old": H((0, "write", 1, 0, 10), (1, "read", None, 5, 6)),
    "concurrent-write-read-new": H((0, "write", 1, 0, 10), (1, "read", 1, 5, 6)),
    "sequential": H((0, "write", 1, 0, 1), (1, "read", 1, 2, 3), (0, "write", 2, 4, 5),
                    (1, "read", 2, 6, 7)),
    "equal-times-concurrent": H((0, "write", 1, 0, 5), (1, "read", None, 5, 6)),
    "info-write-maybe-never": H((0, "write", 1, 0, None), (1, "read", None, 5, 6)),
    "info-write-late": H((0, "write", 1, 0, None), (1, "read", None, 5, 6),
                         (1, "read", 1, 7, 8)),
    "fail-write-ignored": H((0, "write", 1, 0, 1, "fail"), (1, "read", None, 5, 6)),
    "cas-chain": H((0, "write", 0, 0, 1), (1, "cas", [0, 1], 2, 3), (2, "read", 1, 4, 5)),
    "cas-concurrent-one-wins": H((0, "write", 0, 0, 1), (1, "cas", [0, 1], 2, 5),
                                 (2, "cas", [0, 2], 2, 5, "fail"), (3, "read", 1, 6, 7)),
    "cas-info-not-applied": H((0, "write", 0, 0, 1), (1, "cas", [5, 1], 2, None),
                              (2, "read", 0, 6, 7)),
    "duplicate-values": H((0, "write", 1, 0, 1), (1, "write", 2, 2, 3), (0, "write", 1, 4, 5),
                          (1, "read", 1, 6, 7)),
    "write-null": H((0, "write", 1, 0, 1), (1, "write", None, 2, 3), (2, "read", None, 4, 5)),
}

BAD = {
    "porcupine-bad": H((0, "write", 200, 0, 100), (1, "read", 200, 10, 30),
                       (2, "read", None, 40, 90)),
    "stale-initial": H((0, "write", 1, 0, 1), (1, "read", None, 2, 3)),
    "stale": H((0, "write", 1, 0, 1), (0, "write", 2, 2, 3), (1, "read", 1, 4, 5)),
    "read-before-write": H((1, "read", 1, 0, 1), (0, "write", 1, 2, 3)),
    "never-written": H((0, "write", 1, 0, 1), (1, "read", 7, 2, 3)),
    "read-of-failed-write": H((0, "write", 1, 0, 1, "fail"), (1, "read", 1, 2, 3)),
    "new-old-inversion": H((0, "write", 1, 0, 10), (1, "read", 1, 2, 3),
                           (2, "read", None, 4, 5)),
    "info-write-then-gone": H((0, "write", 1, 0, None), (1, "read", 1, 5, 6),
                              (1, "read", None, 7, 8)),
    "cas-both-win": H((0, "write", 0, 0, 1), (1, "cas", [0, 1], 2, 5), (2, "cas", [0, 2], 2, 5)),
    "cas-wrong-expected": H((0, "write", 0, 0, 1), (1, "cas", [3, 1], 2, 3)),
    "duplicate-stale": H((0, "write", 1, 0, 1), (1, "write", 2, 2, 3), (0, "write", 1, 4, 5),
                         (1, "write", 3, 6, 7), (2, "read", 2, 8, 9)),
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_classic_good(name: str) -> None:
    assert both(GOOD[name]) == PASS
    assert brute_force(GOOD[name])


@pytest.mark.parametrize("name", sorted(BAD))
def test_classic_bad(name: str) -> None:
    assert both(BAD[name]) == FAIL
    assert not brute_force(BAD[name])
    res = check_key("x", BAD[name])
    assert res.verdict == FAIL and res.witness and res.explanation


def test_explanation_names_the_stale_read() -> None:
    res = check_key("k3", H((2, "write", 17, 0, 1), (2, "write", 23, 2, 3),
                            (4, "read", 17, 4, 5), (5, "read", 23, 6, 7)))
    assert res.explanation == (
        'read of "k3" by process 4 returned 17, but write 23 (process 2) began after write 17 '
        '(process 2) completed and completed before the read began, and no later write wrote 17')
    assert [o.value for o in res.witness] == [17, 23, 17]


def test_budget_exhaustion_is_unknown_not_pass() -> None:
    ops = H(*[(p, "write", p % 3, 0, 100) for p in range(12)], (20, "read", 9, 200, 201))
    verdict, steps = wgl_check(ops, max_steps=50)
    assert verdict == UNKNOWN and steps == 50
    assert check_key("x", ops, max_steps=50).verdict == UNKNOWN
    assert check_ops(ops, max_steps=50).verdict == UNKNOWN


def test_bad_cas_value_is_named() -> None:
    with pytest.raises(ValueError, match=r"cas by process 3 .* \[expected, new\]"):
        make_op(0, 3, "cas", "x", 5, 10, 20, "ok", "n1")


def test_keys_are_independent() -> None:
    ev = simulate_register(3, n_ops=200, processes=6, keys=4)
    res = check_history(ev)
    assert res.verdict == PASS and len(res.keys) == 4


# ---------------------------------------------------------------- brute force oracle


def _sequential_ok(order: list[Op]) -> bool:
    state = None
    for op in order:
        if op.f == "read":
            if op.value != state:
                return False
        elif op.f == "write":
            state = op.value
        elif op.value[0] != state:
            return False
        else:
            state = op.value[1]
    return True


def brute_force(ops: list[Op]) -> bool:
    """Linearizable iff some subset of the info ops and some order respecting real time
    (a.end < b.start) replays on a sequential register."""
    oks = [o for o in ops if o.type == "ok"]
    infos = [o for o in ops if o.type != "ok"]
    for r in range(len(infos) + 1):
        for chosen in itertools.combinations(infos, r):
            for order in itertools.permutations(oks + list(chosen)):
                if all(not (b.end < a.start) for i, a in enumerate(order)
                       for b in order[i + 1:]) and _sequential_ok(list(order)):
                    return True
    return False


@st.composite
def tiny_histories(draw: st.DrawFn, cas: bool = True, unique: bool = False) -> list[Op]:
    n = draw(st.integers(1, 6))
    rows = []
    for i in range(n):
        s = draw(st.integers(0, 12))
        e = s + draw(st.integers(0, 6))
        f = draw(st.sampled_from(["read", "write", "cas"] if cas else ["read", "write"]))
        typ = draw(st.sampled_from(["ok", "ok", "ok", "info", "fail"]))
        vals = st.sampled_from([None, 1, 2, 3])
        if f == "write":
            v = i + 1 if unique else draw(vals)
        elif f == "cas":
            v = [draw(vals), draw(vals)]
        else:
            v = draw(st.sampled_from([None, *range(1, n + 1)]) if unique else vals)
        rows.append((i, f, v, s, None if typ == "info" else e, typ))
    return H(*rows)


@settings(max_examples=400, deadline=None)
@given(tiny_histories())
def test_wgl_matches_brute_force(ops: list[Op]) -> None:
    assert (wgl_check(ops)[0] == PASS) == brute_force(ops)


@settings(max_examples=400, deadline=None)
@given(tiny_histories(cas=False, unique=True))
def test_read_mapping_matches_brute_force(ops: list[Op]) -> None:
    assert eligible(ops)
    assert (read_mapping_check(ops) is None) == brute_force(ops)


@st.composite
def unique_histories(draw: st.DrawFn) -> list[Op]:
    """Random (mostly non-linearizable) unique-write histories of up to 14 ops."""
    n = draw(st.integers(1, 14))
    rows = []
    for i in range(n):
        s = draw(st.integers(0, 40))
        e = s + draw(st.integers(0, 15))
        f = draw(st.sampled_from(["read", "write", "write"]))
        typ = draw(st.sampled_from(["ok"] * 6 + ["info", "fail"]))
        v = i + 1 if f == "write" else draw(st.sampled_from([None, *range(1, n + 1)]))
        rows.append((i % 5, f, v, s, None if typ == "info" else e, typ))
    return H(*rows)


@settings(max_examples=600, deadline=None)
@given(unique_histories())
def test_read_mapping_matches_wgl(ops: list[Op]) -> None:
    both(ops)


# ---------------------------------------------------------------- teeth: simulated registers

SIM = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32 - 1), "n_ops": st.integers(5, 120),
    "processes": st.integers(1, 8), "keys": st.integers(1, 3),
    "p_read": st.floats(0.2, 0.8), "p_info": st.sampled_from([0.0, 0.05, 0.2]),
    "p_fail": st.sampled_from([0.0, 0.05, 0.2]),
    "mean_gap_ns": st.sampled_from([1, 100, 1000, 5000]),
    "mean_latency_ns": st.sampled_from([1, 1000, 5000, 20000]),
})


@settings(max_examples=300, deadline=None)
@given(SIM, st.sampled_from([0.0, 0.3]))
def test_correct_registers_are_accepted(sim: dict[str, Any], p_cas: float) -> None:
    ev = simulate_register(sim["seed"], **{k: v for k, v in sim.items() if k != "seed"},
                           p_cas=p_cas)
    observed = any(o.type == "ok" for o in ops_from_events(ev))  # none at all: unknown too
    for algo in ("auto", "wgl"):
        res = check_history(ev, algorithm=algo)
        assert res.verdict == (PASS if observed else UNKNOWN), res.summary()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(SIM, st.sampled_from([0.0, 0.3]), st.randoms(use_true_random=False))
def test_one_stale_read_is_rejected_with_it_in_the_witness(
        sim: dict[str, Any], p_cas: float, rnd: random.Random) -> None:
    sim = {**sim, "n_ops": max(sim["n_ops"], 30)}
    ev = simulate_register(sim["seed"], **{k: v for k, v in sim.items() if k != "seed"},
                           p_cas=p_cas)
    injected = inject_stale_read(ev, rnd)
    if injected is None:  # e.g. one process that only reads: no stale value exists
        ev = ev + _sequential_tail(ev)
        injected = inject_stale_read(ev, rnd)
    assert injected is not None
    bad, read = injected
    for algo in ("auto", "wgl"):
        res = check_history(bad, algorithm=algo)
        assert res.verdict == FAIL, res.summary()
        (v,) = res.violations
        assert v.minimal
        assert any(o.f == "read" and o.process == read["process"] and o.end == read["time_ns"]
                   for o in v.witness), v.witness
        assert f"by process {read['process']}" in v.explanation


def _sequential_tail(ev: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two writes then a read on a fresh key by a fresh process, after everything else."""
    t = max(e["time_ns"] for e in ev) + 10
    out = []
    for i, (f, v) in enumerate([("write", -1), ("write", -2), ("read", -2)]):
        out.append({"process": 999, "type": "invoke", "f": f, "key": "tail",
                    "value": None if f == "read" else v, "node": "n", "time_ns": t + 4 * i})
        out.append({"process": 999, "type": "ok", "f": f, "key": "tail", "value": v,
                    "node": "n", "time_ns": t + 4 * i + 1})
    return out


@settings(max_examples=100, deadline=None)
@given(SIM, st.randoms(use_true_random=False))
def test_witness_is_minimal(sim: dict[str, Any], rnd: random.Random) -> None:
    sim = {**sim, "n_ops": max(sim["n_ops"], 30)}
    ev = simulate_register(sim["seed"], **{k: v for k, v in sim.items() if k != "seed"})
    injected = inject_stale_read(ev + _sequential_tail(ev), rnd)
    assert injected is not None
    res = check_history(injected[0])
    (v,) = res.violations
    for op in v.witness:  # dropping any op (with the reads it feeds) makes it pass
        drop = closure(v.witness, {op.id})
        rest = [o for o in v.witness if o.id not in drop]
        assert not rest or wgl_check(rest)[0] == PASS


def test_info_and_unfinished_ops_from_events() -> None:
    ev = [
        {"process": 0, "type": "invoke", "f": "write", "key": "a", "value": 1, "time_ns": 0},
        {"process": 1, "type": "invoke", "f": "read", "key": "a", "value": None, "time_ns": 5},
        {"process": 1, "type": "ok", "f": "read", "key": "a", "value": 1, "time_ns": 6},
        {"process": 2, "type": "invoke", "f": "read", "key": "a", "value": None, "time_ns": 7},
        {"process": 2, "type": "ok", "f": "read", "key": "a", "value": None, "time_ns": 8},
    ]  # process 0 never completes: its write is info (end +inf)
    ops = ops_from_events(ev)
    assert ops[0].type == "info" and ops[0].end == INF
    res = check_history(ev)
    assert res.verdict == FAIL
    assert "returned null" in res.violations[0].explanation
    assert check_history(ev[:3]).verdict == PASS
    assert len(by_key(ops)) == 1


def test_consistency_check_in_run_checks() -> None:
    from harness.checks.evidence import Evidence
    from harness.checks.registry import CHECKS, run_checks
    from harness.scenario import Scenario
    from workloads.history import operations

    assert "consistency" in [c.name for c in CHECKS]
    scn = Scenario.model_validate({"testbed": {"nodes": [{"name": "a"}]},
                                   "checks": {"latency": None, "consistency": {}}})

    def evidence(events: list[dict[str, Any]], problem: str | None = None) -> Evidence:
        return Evidence(scn, [], [], [], operations(events), problem)

    ev = simulate_register(5, n_ops=300, processes=6, keys=3, p_info=0.05, p_fail=0.05)
    (v,) = run_checks(evidence(ev))
    assert (v.name, v.kind, v.verdict, v.measured) == (
        "consistency[linearizable]", "consistency", PASS, "linearizable")
    injected = inject_stale_read(ev, random.Random(1))
    assert injected is not None
    (v,) = run_checks(evidence(injected[0], "harness saturated"))
    assert v.verdict == FAIL and v.evidence["violations"][0]["witness"]
    unchecked = Scenario.model_validate({"testbed": {"nodes": [{"name": "a"}]},
                                         "checks": {"latency": None}})
    assert run_checks(Evidence(unchecked, [], [], [], operations(ev))) == []


def test_clock_alignment_error_makes_close_operations_concurrent() -> None:
    """A read of the old value 0.1 ms after a write completed is stale on one clock; with
    workers' clocks aligned only within 1 ms the two may have overlapped (linearizable);
    with the alignment unmeasured the order is unknown, never linearizable."""
    from harness.checks.consistency import consistency_check
    from harness.checks.evidence import Evidence
    from harness.scenario import Scenario
    from workloads.history import operations

    ms = 1_000_000
    ev = [{"process": p, "type": t, "f": f, "key": "k", "value": v, "time_ns": at}
          for p, t, f, v, at in [(0, "invoke", "write", 1, 0), (0, "ok", "write", 1, 1 * ms),
                                 (1, "invoke", "write", 2, 2 * ms), (1, "ok", "write", 2, 3 * ms),
                                 (2, "invoke", "read", None, 3 * ms + ms // 10),
                                 (2, "ok", "read", 1, 4 * ms)]]
    scn = Scenario.model_validate({"testbed": {"nodes": [{"name": "a"}]},
                                   "checks": {"latency": None, "consistency": {}}})

    def verdict(err: int | None) -> Any:
        (v,) = consistency_check(Evidence(scn, [], [], [], operations(ev), clock_error_ns=err))
        return v

    assert verdict(0).verdict == FAIL
    aligned = verdict(ms)
    assert aligned.verdict == PASS and "1.000 ms error taken as concurrent" in aligned.detail
    assert aligned.evidence["clock_error_ns"] == ms
    assert verdict(ms // 50).verdict == FAIL, "a bound tighter than the gap changes nothing"
    unmeasured = verdict(None)
    assert unmeasured.verdict == UNKNOWN and "could not be aligned" in unmeasured.detail


def test_a_history_without_values_is_unknown_never_linearizable() -> None:
    ev: list[dict[str, Any]] = []
    t = 0
    for p, f in enumerate(["write", "read", "write", "read"]):
        ev.append({"process": p, "type": "invoke", "f": f, "key": "k", "value": None,
                   "time_ns": t})
        ev.append({"process": p, "type": "ok", "f": f, "key": "k", "value": None,
                   "time_ns": t + 5})
        t += 10
    res = check_history(ev)
    assert res.verdict == UNKNOWN and "no values recorded" in res.summary(), res.summary()
    ev[0]["value"] = 7  # one write with a value: now there is something to check
    assert check_history(ev).verdict != UNKNOWN


def test_a_history_where_nothing_completed_ok_is_unknown(tmp_path: Path) -> None:
    """Every write timed out (info) and every read failed: nothing constrains the register."""
    ev = [{"process": p, "type": t, "f": f, "key": "k", "value": v, "time_ns": at}
          for p, t, f, v, at in [(0, "invoke", "write", 1, 0), (0, "info", "write", 1, 5),
                                 (1, "invoke", "read", None, 6), (1, "fail", "read", None, 9)]]
    res = check_ops(ops_from_events(ev))
    assert res.verdict == UNKNOWN and "nothing observed" in res.summary(), res.summary()
    if native.available():  # the compiled core's reader says the same
        path = tmp_path / "h.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in ev))
        core = check_file(path)
        assert core is not None and core.verdict == UNKNOWN, core.summary() if core else None
    ev[3]["type"] = "ok"  # the read answered (null): now it says something
    assert check_ops(ops_from_events(ev)).verdict != UNKNOWN


# ---------------------------------------------------------------- the compiled core


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """The compiled core: the one scripts/setup.sh built, else one built here."""
    lib = native.library()
    if lib is None:
        if shutil.which("gcc") is None:
            pytest.skip("no gcc: the compiled core cannot be built (scripts/setup.sh "
                        "installs gcc); only the pure-Python checker is tested")
        lib = native.load_library(native.build(tmp_path_factory.mktemp("core") /
                                               "liblincheck.so"))
    assert lib is not None
    return lib


@contextmanager
def on(lib: ctypes.CDLL | None) -> Iterator[None]:
    """Run the checker on ``lib`` (None: pure Python)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(native, "library", lambda: lib)
        yield


@settings(max_examples=400, deadline=None)
@given(tiny_histories(), st.sampled_from([None, 1, 3, 10]))
def test_core_search_matches_python_step_for_step(core: ctypes.CDLL, ops: list[Op],
                                                  max_steps: int | None) -> None:
    assert native.wgl(ops, max_steps=max_steps, lib=core) == wgl_check(ops,
                                                                        max_steps=max_steps)


@settings(max_examples=60, deadline=None)
@given(SIM, st.sampled_from([0.0, 0.3]), st.sampled_from([None, 2, 5]))
def test_core_search_matches_python_on_registers(core: ctypes.CDLL, sim: dict[str, Any],
                                                 p_cas: float, values: int | None) -> None:
    ev = simulate_register(sim["seed"], **{k: v for k, v in sim.items() if k != "seed"},
                           p_cas=p_cas, values=values)
    injected = inject_stale_read(ev, random.Random(sim["seed"])) if values is None else None
    for events in (ev, injected[0] if injected else ev):
        for ops in by_key(ops_from_events(events)).values():
            assert native.wgl(ops, lib=core) == wgl_check(ops)


@settings(max_examples=600, deadline=None)
@given(unique_histories())
def test_core_read_mapping_matches_python(core: ctypes.CDLL, ops: list[Op]) -> None:
    assert native.read_mapping_holds(ops, lib=core) == (read_mapping_check(ops) is None)


def _line(ev: dict[str, Any], style: int) -> str:
    """One event as a line, in one of several spellings a foreign writer might use."""
    if style == 1:  # other field order, spaces, an extra field
        ev = {"time_ns": ev["time_ns"], **{k: v for k, v in ev.items() if k != "time_ns"},
              "extra": {"nested": [1, "x\u00e9", None]}}
        return json.dumps(ev, separators=(", ", " : "), ensure_ascii=True)
    if style == 2:  # string processes, integer keys, CRLF
        ev = dict(ev, process=f"p{ev['process']}", key=int(str(ev["key"])[1:]))
        return json.dumps(ev) + "\r"
    return json.dumps(ev, separators=(",", ":"))


def _comparable(res: Any) -> dict[str, Any]:
    d = res.as_dict()
    d.pop("elapsed_s")
    d.pop("engine")
    for k in d["violations"] + d["unknown"]:
        k.pop("elapsed_s")
    return d


SMALL_SIM = SIM.map(lambda s: {**s, "n_ops": min(s["n_ops"], 60)})
STEPS = 20_000  # a step budget, not a time budget: both paths stop at the same step


@settings(max_examples=100, deadline=None)
@given(SMALL_SIM, st.sampled_from([0.0, 0.3]), st.integers(0, 2), st.booleans(),
       st.booleans())
def test_check_file_on_the_core_agrees_with_the_python_reader(
        core: ctypes.CDLL, tmp_path_factory: pytest.TempPathFactory, sim: dict[str, Any],
        p_cas: float, style: int, stale: bool, torn: bool) -> None:
    ev = simulate_register(sim["seed"], **{k: v for k, v in sim.items() if k != "seed"},
                           p_cas=p_cas)
    injected = inject_stale_read(ev, random.Random(sim["seed"])) if stale else None
    ev = injected[0] if injected else ev
    path = tmp_path_factory.mktemp("h") / "h.jsonl"
    lines = [_line(e, style) for e in ev]
    if lines:
        lines.insert(len(lines) // 2, "   ")  # a blank line
    path.write_text("\n".join(lines) + ("\n" if not torn else '\n{"process": 1, "ty'))
    with on(core):
        got = check_file(path, max_steps=STEPS)
    assert got is not None and got.engine == "core", "the core handed its history to Python"
    with on(None):
        want = check_history(read_history(path), max_steps=STEPS)
    assert _comparable(got) == _comparable(want)


def _first(old: str, new: str) -> Any:
    return lambda text: text.replace(old, new, 1)


def _write(new: str) -> Any:
    """The first write's value spelt ``new`` (``{v}`` is the value)."""
    return lambda text: re.sub(r'("f":"write","key":"k0","value":)(\d+)',
                               lambda m: m[1] + new.format(v=m[2]), text, count=1)


def _times(fn: Any) -> Any:
    return lambda text: re.sub(r'"time_ns":(\d+)', lambda m: f'"time_ns":{fn(int(m[1]))}', text)


EXOTIC = {  # valid histories the core leaves to the Python reader: edits of the file's text
    "float value": _write("{v}.0"),
    "boolean value": _write("true"),
    "escaped key": _first('"key":"k0"', '"key":"k\\u0030"'),
    "non-ASCII node": _first('"node":"n0"', '"node":"n\u00e9"'),
    "list value": _write("[{v}]"),
    "NaN value": _write("NaN"),
    "float times": _times(lambda t: f"{t}.0"),
    "times beyond int64": _times(lambda t: 10**19 + t),
}


@pytest.mark.parametrize("name", sorted(EXOTIC))
def test_core_hands_what_it_cannot_read_exactly_to_python(
        core: ctypes.CDLL, tmp_path: Path, name: str) -> None:
    ev = simulate_register(4, n_ops=40, processes=3, keys=1, p_cas=0.2)
    text = "\n".join(json.dumps(e, separators=(",", ":")) for e in ev) + "\n"
    edited = EXOTIC[name](text)
    assert edited != text, name
    path = tmp_path / "h.jsonl"
    path.write_text(edited, encoding="utf-8")
    assert native.load_history(path, lib=core) is None
    with on(core):
        assert check_file(path) is None
        res = run_check(str(path), "linearizable", 30.0)
    with on(None):
        assert _comparable(res) == _comparable(run_check(str(path), "linearizable", 30.0))


BAD_LINES = {  # (what to do to the file, what the error says): always the Python reader's
    "bad middle line": (lambda ls: [*ls[:2], "{oops", *ls[2:]], "line 3 is not valid JSON"),
    "double invoke": (lambda ls: ls[:1] + ls, "invokes again"),
    "orphan completion": (lambda ls: ls[1:], "without an open invoke"),
    "missing key": (lambda ls: [ls[0].replace('"key":"k0",', ""), *ls[1:]], "needs a 'key'"),
    "string time": (lambda ls: [re.sub(r'"time_ns":\d+', '"time_ns":"soon"', ls[0]), *ls[1:]],
                    "'time_ns' must be a number"),
    "torn then more": (lambda ls: [*ls, '{"process": 1', ""], "is not valid JSON"),
}


@pytest.mark.parametrize("name", sorted(BAD_LINES))
def test_bad_input_is_reported_by_the_python_reader_with_its_line(
        core: ctypes.CDLL, tmp_path: Path, name: str) -> None:
    ev = simulate_register(4, n_ops=20, processes=2, keys=1)
    edit, message = BAD_LINES[name]
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join(edit([json.dumps(e, separators=(",", ":")) for e in ev])) + "\n")
    assert native.load_history(path, lib=core) is None
    for lib in (core, None):
        with on(lib), pytest.raises(ConfigError, match=re.escape(message)):
            run_check(str(path), "linearizable", 30.0)


EPOCH_NS = 1_764_000_000_123_456_789  # 2025-11-24 in epoch ns: float64 steps are 256 ns here


def test_epoch_nanosecond_stamps_stay_exact(core: ctypes.CDLL, tmp_path: Path) -> None:
    t = EPOCH_NS
    assert float(t + 30) == float(t + 31)  # what float64 would do to the read below
    rows = [(0, "write", 1, t, t + 10), (1, "write", 2, t + 20, t + 30),
            (2, "read", 1, t + 31, t + 40)]  # the read began 1 ns after write 2 completed
    ev = []
    for p, f, v, s, e in rows:
        ev.append({"process": p, "type": "invoke", "f": f, "key": "k",
                   "value": None if f == "read" else v, "node": "n", "time_ns": s})
        ev.append({"process": p, "type": "ok", "f": f, "key": "k", "value": v, "node": "n",
                   "time_ns": e})
    path = tmp_path / "epoch.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in ev))
    for lib in (core, None):
        with on(lib):
            res = run_check(str(path), "linearizable", 30.0)
        assert (res.verdict, res.engine) == (FAIL, "core" if lib else "python"), res.summary()
        (v,) = res.violations
        stamps = {(o.start, o.end) for o in v.witness}
        assert (t + 31, t + 40) in stamps and all(type(x) is int for s in stamps for x in s)


def test_the_garbage_collector_is_paused_and_restored() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_stale_library_is_not_used(tmp_path: Path) -> None:
    lib = tmp_path / "liblincheck.so"
    lib.write_bytes(b"")
    os.utime(lib, (1, 1))  # older than its source
    assert not native.fresh(lib)
