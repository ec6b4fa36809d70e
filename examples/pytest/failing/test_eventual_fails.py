"""A deliberately FAILING example: eventual consistency under a partition is not linearizable.

Not part of the example suite CI runs as a pass; run it to see what a failing check looks
like in pytest's output: ``pytest examples/pytest/failing`` exits 1 and prints the
consistency check's explanation (the stale read) and the command that reproduces the run.
"""

from __future__ import annotations

import pytest

from harness.pytest_plugin import EdgeRun


@pytest.mark.edgeproof_scenario("eventual-partition.yaml")
def test_eventual_mode_is_linearizable(edge_run: EdgeRun) -> None:
    edge_run()  # fails: "not linearizable: ..."
