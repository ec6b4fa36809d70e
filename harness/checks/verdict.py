"""A verdict: what one check found, with its figures (a leaf: imports nothing of edgeproof).

A finding is a result, never an exception; ``unknown`` is never green.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"


@dataclass
class Verdict:
    """One check's verdict: ``pass``, ``fail`` or ``unknown``, predicted vs measured, the
    tolerance, a one-paragraph explanation and the evidence behind it."""

    name: str
    kind: str
    verdict: str
    predicted: Any = None
    measured: Any = None
    tolerance: Any = None
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    phase: str | None = None  # the phase it judges (None: the whole run)

    def as_dict(self) -> dict[str, Any]:
        """The verdict as results.json reports it."""
        return {"name": self.name, "kind": self.kind, "predicted": self.predicted,
                "measured": self.measured, "tolerance": self.tolerance,
                "verdict": self.verdict, "detail": self.detail, "evidence": self.evidence,
                "phase": self.phase}


def overall_verdict(verdicts: list[Verdict]) -> str:
    """Jepsen's merge-valid: fail if any failed, else unknown if any is unknown, else pass."""
    if any(v.verdict == FAIL for v in verdicts):
        return FAIL
    if any(v.verdict == UNKNOWN for v in verdicts):
        return UNKNOWN
    return PASS


def rounded(x: float | None, nd: int = 2) -> float | None:
    """A figure for a verdict: rounded, NaN as None."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, nd)
