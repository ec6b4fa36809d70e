"""Scenario values for unit tests: a base mapping with dotted-path changes."""

from __future__ import annotations

import copy
from typing import Any

from harness.scenario import Scenario


def changed(raw: dict[str, Any], **changes: Any) -> Scenario:
    """``raw`` validated with each ``a.b.c=value`` change set (the base is not touched)."""
    data = copy.deepcopy(raw)
    for path, value in changes.items():
        cur = data
        *head, last = path.split(".")
        for k in head:
            cur = cur[k]
        cur[last] = value
    return Scenario.model_validate(data)
