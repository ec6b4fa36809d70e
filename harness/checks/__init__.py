"""Checks: functions from the evidence of a run to verdicts (harness.checks.registry runs
them). Each check is a module of its own; ``lin/`` is the linearizability checker."""
