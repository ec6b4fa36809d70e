"""Fixtures shared by the unit tests."""

from __future__ import annotations

import os
from types import ModuleType

import pytest

from workloads import native


@pytest.fixture
def compiled_recorder() -> ModuleType:
    """The recorder's compiled module (workloads/native.py). Where it can be built (the
    Python headers are there, EDGEPROOF_RECORDER_NATIVE is not 0) and is not, the test
    fails: scripts/setup.sh builds it. Elsewhere the test skips, saying why."""
    mod = native.module()
    if mod is not None:
        return mod
    if os.environ.get(native.SWITCH) == "0":
        pytest.skip(f"LOUD: {native.SWITCH}=0: the compiled recorder is switched off")
    if native.headers() is None:
        pytest.skip("LOUD: no Python.h for this Python (Debian: python3-dev): the compiled "
                    "recorder cannot be built here")
    pytest.fail("the compiled recorder is not built: run `.venv/bin/python -m workloads.native "
                "build` (scripts/setup.sh does)")
