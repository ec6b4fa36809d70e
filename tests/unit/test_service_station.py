"""Unit tests of the reference service's emulated hardware and its config."""

from __future__ import annotations

import asyncio
import statistics

import pytest

from testbeds.service import ConfigError, ServiceTimes, Station, parse_config


def test_service_time_mean_over_many_seeded_draws() -> None:
    times = ServiceTimes(10.0, seed=7)
    draws = [times.next_ms() for _ in range(50_000)]
    assert statistics.fmean(draws) == pytest.approx(10.0, rel=0.03)
    assert statistics.pstdev(draws) == pytest.approx(10.0, rel=0.05)  # exponential: sd == mean
    assert min(draws) >= 0.0


def test_same_seed_same_sequence_other_seed_other_sequence() -> None:
    a, b, c = ServiceTimes(5.0, 42), ServiceTimes(5.0, 42), ServiceTimes(5.0, 43)
    seq_a = [a.next_ms() for _ in range(100)]
    assert seq_a == [b.next_ms() for _ in range(100)]
    assert seq_a != [c.next_ms() for _ in range(100)]


def test_zero_mean_service_time_is_zero() -> None:
    assert ServiceTimes(0.0, 1).next_ms() == 0.0


def test_station_serves_at_most_c_in_fifo_order() -> None:
    async def scenario() -> tuple[list[int], int]:
        station, order, peak = Station(2), [], 0

        async def job(i: int) -> None:
            nonlocal peak
            async with station.slot():
                peak = max(peak, station.busy)
                order.append(i)
                await asyncio.sleep(0.005)

        tasks = [asyncio.create_task(job(i)) for i in range(6)]
        await asyncio.sleep(0)
        assert station.busy == 2 and station.queue_length == 4
        await asyncio.gather(*tasks)
        assert station.busy == 0 and station.completed == 6
        return order, peak

    order, peak = asyncio.run(scenario())
    assert order == list(range(6)) and peak == 2


def test_station_cancelled_waiter_does_not_leak_a_server() -> None:
    async def scenario() -> Station:
        station = Station(1)
        release = asyncio.Event()

        async def holder() -> None:
            async with station.slot():
                await release.wait()

        async def waiter() -> None:
            async with station.slot():
                pass

        h = asyncio.create_task(holder())
        await asyncio.sleep(0)
        w = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        w.cancel()
        await asyncio.gather(w, return_exceptions=True)
        release.set()
        await h
        async with station.slot():
            assert station.busy == 1
        return station

    station = asyncio.run(scenario())
    assert station.busy == 0 and station.queue_length == 0


BASE = {"name": "edge-1", "host": "127.0.0.1", "port": 7000}


def test_config_defaults_members_and_primary() -> None:
    cfg = parse_config({**BASE, "members": ["edge-2", "edge-1"], "extra_future_key": 1})
    assert cfg.primary == "edge-2" and cfg.mode == "quorum" and cfg.peers == {}
    assert parse_config(BASE).members == ["edge-1"]


@pytest.mark.parametrize(("patch", "words"), [
    ({"mode": "raft"}, "'mode'"),
    ({"workers": 0}, "'workers'"),
    ({"service_ms": -1}, "'service_ms'"),
    ({"members": ["edge-2"]}, "'members'"),
    ({"primary": "edge-9"}, "'primary'"),
    ({"replica_timeout_ms": 0}, "'replica_timeout_ms'"),
])
def test_config_errors_name_the_field(patch: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_config({**BASE, **patch})


def test_config_missing_field() -> None:
    with pytest.raises(ConfigError, match="missing field 'port'"):
        parse_config({"name": "edge-1", "host": "h"})
