"""The linearizability checker: classic cases, teeth (hypothesis) and cross-checks.

Oracles: a brute-force search over all orders (tiny histories) checks Wing-Gong/Lowe; the
Wing-Gong/Lowe search checks the Gibbons-Korach read-mapping test; simulated atomic registers
(harness.lin_gen) must pass, and the same with one stale read must fail with that read in the
witness.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checks.lin.check import (
    FAIL,
    PASS,
    UNKNOWN,
    check_history,
    check_key,
    check_ops,
    closure,
)
from harness.checks.lin.gen import inject_stale_read, simulate_register
from harness.checks.lin.mapping import eligible, read_mapping_check
from harness.checks.lin.ops import Op, by_key, make_op, ops_from_events
from harness.checks.lin.wgl import wgl_check

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
    for algo in ("auto", "wgl"):
        res = check_history(ev, algorithm=algo)
        assert res.verdict == PASS, res.summary()


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
