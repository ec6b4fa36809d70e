"""Workloads: Locust users, load shapes, the load process, the recorder and the history.

``from workloads import record, recorded`` gives the recorder (see workloads/recorder.py);
it is imported lazily so that ``import workloads.history`` stays free of gevent.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Op", "record", "recorded"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from workloads import recorder  # cost: gevent, only for user locustfiles

        return getattr(recorder, name)
    raise AttributeError(f"module 'workloads' has no attribute {name!r}")
