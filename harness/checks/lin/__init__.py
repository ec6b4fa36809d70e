"""Linearizability of register histories, per key, with a minimal witness.

The public face; the parts are :mod:`.ops` (operations and their semantics), :mod:`.mapping`
(read-mapping, Gibbons and Korach), :mod:`.wgl` (Wing and Gong with Lowe's memoisation),
:mod:`.check` (per key, witnesses, explanations) and :mod:`.gen` (histories for tests).
"""

from __future__ import annotations

from harness.checks.lin.check import (
    MODELS,
    KeyResult,
    LinResult,
    check_history,
    check_key,
    check_ops,
    minimal_witness,
)

__all__ = ["MODELS", "KeyResult", "LinResult", "check_history", "check_key", "check_ops",
           "minimal_witness"]
