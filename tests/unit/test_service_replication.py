"""Unit tests of the reference service's replica state: tag order, LWW, the write log."""

from __future__ import annotations

import json
from pathlib import Path

from testbeds.replication import ABSENT, LOG_NAME, Entry, Store, Tag, lww_order, tag_order


def entry(key: str, version: int, writer: str, ts: float = 0.0, value: object = None) -> Entry:
    return Entry(key=key, value=value, version=version, writer=writer, ts=ts)


def test_tag_orders_by_version_then_writer() -> None:
    assert Tag(2, "edge-1") > Tag(1, "edge-3")
    assert Tag(2, "edge-2") > Tag(2, "edge-1")
    assert Tag(1, "edge-1") > ABSENT
    assert max([Tag(3, "a"), Tag(3, "c"), Tag(2, "z")]) == Tag(3, "c")


def test_tag_store_keeps_the_larger_tag() -> None:
    store = Store(None, tag_order)
    assert store.apply(entry("k", 1, "edge-2", value="a"))
    assert not store.apply(entry("k", 1, "edge-1", value="b"))  # same version, smaller writer
    assert not store.apply(entry("k", 1, "edge-2", value="a"))  # idempotent re-delivery
    assert store.apply(entry("k", 2, "edge-1", value="c"))
    assert store.get("k") == entry("k", 2, "edge-1", value="c")
    assert store.tag("k") == Tag(2, "edge-1") and store.tag("nope") == ABSENT


def test_lww_store_prefers_the_later_clock_even_with_a_smaller_version() -> None:
    store = Store(None, lww_order)
    store.apply(entry("k", 5, "edge-1", ts=100.0, value="old"))
    assert store.apply(entry("k", 1, "edge-2", ts=101.0, value="new"))
    assert not store.apply(entry("k", 9, "edge-3", ts=99.0, value="skewed"))  # update lost
    assert store.apply(entry("k", 1, "edge-3", ts=101.0, value="tie"))  # tie -> name
    assert store.get("k").value == "tie"


def test_write_log_survives_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "d", tag_order)
    store.apply(entry("a", 1, "edge-1", value={"x": 1}))
    store.apply(entry("a", 2, "edge-2", value=[1, 2]))
    store.apply(entry("b", 1, "edge-1", value="b"))
    store.apply(entry("a", 1, "edge-3", value="stale"))  # not applied, not logged
    store.close()
    again = Store(tmp_path / "d", tag_order)
    assert again.get("a") == entry("a", 2, "edge-2", value=[1, 2])
    assert again.get("b").value == "b"
    assert len((tmp_path / "d" / LOG_NAME).read_text().splitlines()) == 3


def test_torn_last_line_is_ignored_and_cut_off(tmp_path: Path) -> None:
    store = Store(tmp_path, tag_order)
    store.apply(entry("a", 1, "edge-1", value="kept"))
    store.close()
    log = tmp_path / LOG_NAME
    torn = json.dumps(entry("a", 2, "edge-1", value="torn").to_json())[:-7]
    with log.open("a") as fh:
        fh.write(torn)
    again = Store(tmp_path, tag_order)
    assert again.get("a").value == "kept"
    again.apply(entry("c", 1, "edge-1", value="after"))  # must not be glued to the torn bytes
    again.close()
    third = Store(tmp_path, tag_order)
    assert third.get("a").value == "kept" and third.get("c").value == "after"
    assert all(json.loads(line) for line in log.read_text().splitlines())


def test_malformed_middle_line_is_skipped(tmp_path: Path) -> None:
    good = json.dumps(entry("a", 1, "edge-1", value=1).to_json())
    (tmp_path / LOG_NAME).write_text(f"{good}\nnot json\n{{\"key\": \"x\"}}\n")
    assert Store(tmp_path, tag_order).get("a").value == 1


def test_entry_json_round_trip() -> None:
    e = entry("k", 3, "edge-2", ts=12.5, value={"nested": [1, None]})
    assert Entry.from_json(json.loads(json.dumps(e.to_json()))) == e
