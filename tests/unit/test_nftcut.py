"""The partition table's text: every cut proxy port and peer pair in its sets, the three
fixed rules, and names that nft accepts and `edgeproof clean` can map back to a run."""

from __future__ import annotations

from testbeds import nftcut


def test_ruleset_holds_every_cut_in_sets_and_three_rules() -> None:
    cut = nftcut.Cut("10.7.0.1", frozenset({20001, 20002}),
                     frozenset({("10.7.1.1", "10.7.1.2"), ("10.7.1.2", "10.7.1.1")}))
    text = nftcut.ruleset("ep_ep0123abcd_fault0", cut)
    assert "elements = { 10.7.0.1 . 20001, 10.7.0.1 . 20002 }" in text
    assert "ip saddr { 10.7.1.1 } ip daddr { 10.7.1.2 }" in text
    assert "ip saddr { 10.7.1.2 } ip daddr { 10.7.1.1 }" in text
    assert text.count(" drop;") == 4 and text.count("counter") == 4
    assert "ip daddr . tcp dport @cuts" in text and "ip saddr . tcp sport @cuts" in text


def test_sources_that_cut_the_same_destinations_share_one_rule() -> None:
    a, b = ["10.7.1.1", "10.7.1.2"], ["10.7.1.3", "10.7.1.4", "10.7.1.5"]
    halves = {(x, y) for x in a for y in b} | {(y, x) for x in a for y in b}
    assert nftcut.peer_groups(halves) == [(a, b), (b, a)]
    ring = {("1", "2"), ("2", "3"), ("3", "1")}
    assert len(nftcut.peer_groups(ring)) == 3


def test_an_empty_cut_has_sets_without_elements() -> None:
    text = nftcut.ruleset("ep_x", nftcut.Cut("10.7.0.1", frozenset(), frozenset()))
    assert "elements" not in text and "set cuts" in text and " drop;" in text


def test_table_names_are_identifiers_that_map_back_to_their_run() -> None:
    name = nftcut.table_name("ep0123abcd", "fault-3.x")
    assert name == "ep_ep0123abcd_fault_3_x"
    assert nftcut.run_ids([name, "ep_other", "docker"]) == {"ep0123abcd"}
    assert name.startswith(nftcut.table_name("ep0123abcd", ""))
