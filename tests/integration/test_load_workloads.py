"""Load shapes, compare-and-set, third-party locustfiles, distributed load and crash safety,
with real Locust (in its own processes) against the tiny KV server of test_load.py."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from test_load import _spec, kv_server_fixture  # noqa: F401  (the kv_server fixture)

from workloads.history import operations, read_history, validate_pairs
from workloads.load import LoadProcess, run_load
from workloads.stats import stats_frames

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILES = ROOT / "examples" / "locustfiles"


def _checked_ops(result):
    """The run's operations, after checking the history contract and Locust's counts."""
    assert result.returncode == 0, result.stderr_tail
    events = read_history(result.history_path)
    validate_pairs(events)
    ops = operations(events)
    assert ops["end_ns"].notna().all(), "every invoke has exactly one completion"
    assert result.stats["total"]["num_requests"] == len(ops)
    return ops


def _inner_rate(ops, skip_s: float = 1.0) -> tuple[float, float]:
    """(throughput of invokes in the run's inner window, mean latency in s there)."""
    t0, t1 = ops["start_ns"].min() + skip_s * 1e9, ops["start_ns"].max() - 0.5e9
    inner = ops[(ops["start_ns"] >= t0) & (ops["start_ns"] < t1)]
    return len(inner) / ((t1 - t0) / 1e9), inner["latency_ms"].mean() / 1000


@pytest.mark.integration
def test_closed_loop_obeys_littles_law_within_5_percent(tmp_path: Path, kv_server,
                                                        quiet_host: float) -> None:
    spec = _spec(tmp_path, kv_server(), users=30, think_time_ms=50, duration_s=9, seed=5)
    ops = _checked_ops(run_load(spec))
    x, r_s = _inner_rate(ops)
    predicted = spec.users / (spec.think_time_ms / 1000 + r_s)
    assert abs(x - predicted) / predicted < 0.05, (x, predicted, r_s)


@pytest.mark.integration
def test_open_loop_throughput_within_5_percent_of_rate(tmp_path: Path, kv_server,
                                                       quiet_host: float) -> None:
    spec = _spec(tmp_path, kv_server(), shape="open", rate_rps=250, users=5, duration_s=12,
                 timeout_ms=500, seed=9)
    result = run_load(spec)
    ops = _checked_ops(result)
    assert result.stats["pool_users"] >= 250 * 0.5
    assert result.stats["arrivals_waited"] is False, result.stats["arrivals"]
    throughput = len(ops) / result.stats["duration_s"]
    assert abs(throughput - 250) / 250 < 0.05, (throughput, result.stats["arrivals"])
    assert abs(result.stats["arrivals"]["count"] - len(ops)) <= 2
    assert (ops["type"] == "ok").mean() > 0.99


@pytest.mark.integration
def test_open_loop_warns_when_arrivals_wait(tmp_path: Path, kv_server) -> None:
    url = kv_server(slow_key="k0", slow_ms=300)
    spec = _spec(tmp_path, url, shape="open", rate_rps=40, users=2, keys=1, duration_s=2)
    spec.extra["pool_users"] = 2  # force a pool too small for 40/s of 300 ms operations
    result = run_load(spec)
    assert result.stats["pool_users"] == 2
    assert result.returncode == 0, result.stderr_tail
    assert result.stats["arrivals_waited"] is True
    assert any(line.get("arrivals_waited") for line in result.progress)
    assert "no idle user" in Path(spec.log_path).read_text()
    validate_pairs(read_history(result.history_path))


@pytest.mark.integration
def test_builtin_kv_compare_and_set(tmp_path: Path, kv_server) -> None:
    spec = _spec(tmp_path, kv_server(), users=6, keys=2, read_fraction=0.3, cas_fraction=0.4,
                 duration_s=3)
    ops = _checked_ops(run_load(spec))
    cas = ops[ops["f"] == "cas"]
    assert len(cas) > 0 and set(ops["f"]) == {"read", "write", "cas"}
    assert set(cas["type"]) <= {"ok", "fail"} and (cas["type"] == "ok").any()
    assert (cas["type"] == "fail").any(), "contention on 2 keys makes some CAS miss (412)"
    assert all(isinstance(v, list) and len(v) == 2 for v in cas["value"])
    new_values = list(ops[ops["f"] == "write"]["value"]) + [v[1] for v in cas["value"]]
    assert len(new_values) == len(set(new_values)), "write values are unique"


@pytest.mark.integration
@pytest.mark.parametrize("shape,extra,expect_users", [
    ("step", {"step_users": 2, "step_s": 1.0}, [2, 4, 6]),
    ("spike", {"spike_users": 8, "spike_at_s": 1.0, "spike_s": 1.5}, [3, 8, 3]),
])
def test_shapes(tmp_path: Path, kv_server, shape: str, extra: dict, expect_users: list) -> None:
    users = 6 if shape == "step" else 3
    spec = _spec(tmp_path, kv_server(), users=users, duration_s=4, shape=shape, **extra)
    result = run_load(spec)
    _checked_ops(result)
    seen = [line["users"] for line in result.progress if not line.get("final")]
    compact = [u for i, u in enumerate(seen) if i == 0 or u != seen[i - 1]]
    assert compact == expect_users, seen


@pytest.mark.integration
def test_third_party_locustfile_unchanged_and_recorded(tmp_path: Path, kv_server) -> None:
    url = kv_server()
    plain = run_load(_spec(tmp_path / "plain", url, users=3, duration_s=2,
                           locustfile=str(LOCUSTFILES / "plain_kv.py")))
    assert plain.returncode == 0, plain.stderr_tail
    assert plain.stats["total"]["num_requests"] > 0
    # ran unchanged; recording nothing itself, each of its requests is an operation
    plain_ops = operations(read_history(plain.history_path))
    assert len(plain_ops) == plain.stats["total"]["num_requests"]
    assert set(plain_ops["f"]) <= {"/kv/item"} and plain_ops["value"].isna().all()

    rec = run_load(_spec(tmp_path / "rec", url, users=3, duration_s=2,
                         locustfile=str(LOCUSTFILES / "recorded_kv.py")))
    ops = _checked_ops(rec)
    assert set(ops["f"]) == {"read", "write"} and ops["process"].nunique() == 3
    assert (ops[ops["f"] == "write"]["type"] == "ok").all()


@pytest.mark.integration
def test_checkable_locustfile_records_values(tmp_path: Path, kv_server) -> None:
    result = run_load(_spec(tmp_path, kv_server(), users=3, duration_s=2,
                            locustfile=str(LOCUSTFILES / "checkable_kv.py")))
    ops = _checked_ops(result)
    assert (ops["type"] == "ok").all()
    written = set(ops[ops["f"] == "write"]["value"])
    read = set(ops[ops["f"] == "read"]["value"]) - {None}
    assert read and read <= written


@pytest.mark.integration
def test_distributed_master_and_two_workers(tmp_path: Path, kv_server) -> None:
    spec = _spec(tmp_path, kv_server(), users=6, duration_s=4, workers=2)
    result = run_load(spec)
    ops = _checked_ops(result)  # merged history: pairs hold, counts == Locust's aggregate
    assert result.stats["history"]["invoke"] == len(ops)
    frames = stats_frames(result.stats)
    assert frames["entries"]["num_requests"].sum() == len(ops)
    assert ops["process"].nunique() == 6
    parts = [read_history(tmp_path / f"history.w{i}.jsonl") for i in (0, 1)]
    assert all(parts) and sum(map(len, parts)) == 2 * len(ops)
    procs = [{e["process"] % 2 for e in part} for part in parts]
    assert procs == [{0}, {1}], "worker i numbers its processes i, i+2, ..."
    writes = ops[ops["f"] == "write"]["value"]
    assert writes.is_unique
    assert result.progress[0]["elapsed_s"] < 2 and result.progress[-1]["ops"] == len(ops)


FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


@pytest.mark.integration
@pytest.mark.skipif(not FAKETIME_LIB.exists(), reason="libfaketime missing: scripts/setup.sh")
def test_worker_on_another_clock_is_aligned_before_the_merge(tmp_path: Path, kv_server) -> None:
    """Worker 1 runs under libfaketime (its CLOCK_MONOTONIC decades away from the master's, as
    another host's would be): its part is shifted by the measured offset, so the merged history
    of one register stays linearizable, and the alignment's error bound reaches the stats."""
    from harness.checks.lin.check import check_ops
    from harness.checks.lin.ops import ops_from_events
    from workloads.history import merge_parts

    skew = ["env", "FAKETIME=+5s", f"LD_PRELOAD={FAKETIME_LIB}"]
    spec = _spec(tmp_path, kv_server(), users=4, duration_s=4, workers=2, keys=1,
                 think_time_ms=20, worker_prefix=[[], skew])
    result = run_load(spec)
    ops = _checked_ops(result)
    clock = result.stats["clock"]
    local, skewed = clock["workers"]
    assert local["shared_clock"] and local["applied_offset_ns"] == 0
    assert abs(local["offset_ns"]) <= local["error_ns"], "the same clock measured as itself"
    assert not skewed["shared_clock"] and abs(skewed["offset_ns"]) > 10**15, skewed
    assert 0 < clock["error_ns"] == skewed["error_ns"] < 50_000_000, clock
    assert ops["start_ns"].max() - ops["start_ns"].min() < 10e9, "parts merged on one clock"
    assert check_ops(ops_from_events(read_history(result.history_path))).verdict == "pass"
    raw = tmp_path / "unaligned.jsonl"  # the same parts merged without the offset
    merge_parts([tmp_path / f"history.w{i}.jsonl" for i in (0, 1)], raw)
    assert check_ops(ops_from_events(read_history(raw))).verdict == "fail"


@pytest.mark.integration
def test_sigkilled_load_leaves_a_readable_history(tmp_path: Path, kv_server) -> None:
    spec = _spec(tmp_path, kv_server(), users=4, duration_s=60, think_time_ms=5)
    with LoadProcess(spec) as lp:
        next(lp.progress(timeout=15))
        os.killpg(lp.proc.pid, signal.SIGKILL)
        lp.proc.wait(timeout=10)
    events = read_history(spec.history_path)  # a torn last line, if any, is dropped
    assert len(events) > 0
    validate_pairs(events)  # open invokes at the end are allowed, nothing else
