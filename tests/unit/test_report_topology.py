"""report.html's "Topology" section: a tiered testbed's tree as a depth-indented list with each
node's tier (from results.json's ``topology``); no section for a flat testbed."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd

from harness.report import TREE_MAX, topology_html, write_html
from harness.runner import topology_of
from harness.scenario import Scenario

TIERS: dict[str, Any] = {"tiers": [
    {"name": "cloud", "count": 1}, {"name": "aggregation", "count": 2},
    {"name": "edge", "per_parent": 2}]}


def _scenario(testbed: dict[str, Any]) -> Scenario:
    return Scenario.model_validate({"name": "t", "testbed": testbed,
                                    "workload": {"duration_s": 5}})


def _results(scn: Scenario) -> dict[str, Any]:
    return {"name": scn.name, "seed": 0, "backend": "local", "verdict": "pass",
            "duration_s": 5.0, "workload": {"ops": 0}, "checks": [], "faults": [],
            **topology_of(scn)}


class Depths(HTMLParser):
    """The nesting depth (ul levels below the tree) and text of every node in the tree."""

    def __init__(self) -> None:
        super().__init__()
        self.depth, self.inside, self.nodes = -1, False, []
        self.cls: str | None = None
        self.tree = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "ul" and (self.tree or ("class", "tree") in attrs):
            self.tree, self.depth = True, self.depth + 1
        self.cls = dict(attrs).get("class") if tag == "span" and self.tree else None

    def handle_endtag(self, tag: str) -> None:
        if tag == "ul" and self.tree:
            self.depth -= 1
            self.tree = self.depth >= 0

    def handle_data(self, data: str) -> None:
        if self.cls == "node":
            self.nodes.append([self.depth, data, None])
        elif self.cls == "tier":
            self.nodes[-1][2] = data
        self.cls = None


def test_a_tiered_run_draws_its_tree_with_tiers(tmp_path: Path) -> None:
    scn = _scenario({"service": {"mode": "eventual"}, "topology": TIERS})
    results = _results(scn)
    assert results["topology"][2] == {"depth": 2, "name": "edge-1-1", "tier": "edge",
                                      "parent": "aggregation-1"}
    page = write_html(tmp_path, results, pd.DataFrame()).read_text()
    assert '<h2 id="topology">Topology</h2>' in page
    assert "7 nodes: 1 cloud, 2 aggregation, 4 edge" in page
    parser = Depths()
    parser.feed(page)
    assert [tuple(n) for n in parser.nodes] == [
        (0, "cloud-1", "cloud"), (1, "aggregation-1", "aggregation"), (2, "edge-1-1", "edge"),
        (2, "edge-1-2", "edge"), (1, "aggregation-2", "aggregation"), (2, "edge-2-1", "edge"),
        (2, "edge-2-2", "edge")]
    assert page.count("<ul") == page.count("</ul>") and page.count("<li>") == page.count(
        "</li>")
    assert not re.search(r"(src|href)=\"http", page), "self-contained"


def test_a_flat_run_has_no_topology_section(tmp_path: Path) -> None:
    scn = _scenario({"nodes": [{"name": "edge-1"}, {"name": "edge-2"}]})
    results = _results(scn)
    assert "topology" not in results
    page = write_html(tmp_path, results, pd.DataFrame()).read_text()
    assert "Topology" not in page and 'class="tree"' not in page


def test_a_huge_fleet_lists_the_first_nodes_and_counts_the_rest() -> None:
    tree = [{"depth": 0, "name": "cloud-1", "tier": "cloud"}] + [
        {"depth": 1, "name": f"edge-{i}", "tier": "edge"} for i in range(1, TREE_MAX + 50)]
    text = topology_html(tree)
    assert f"{TREE_MAX + 49} edge" in text and "and 50 more nodes" in text
    assert text.count("<ul") == text.count("</ul>")
