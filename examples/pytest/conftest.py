"""The example suite's conftest: the deliberately failing examples under ``failing/`` run only
when asked for by path (``pytest examples/pytest/failing``), never with ``pytest examples/pytest``.

Nothing else is needed here: the edgeproof plugin (markers, fixtures, options) loads itself
through its ``pytest11`` entry point once edgeproof is installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

FAILING = Path(__file__).parent / "failing"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path != FAILING:
        return None
    here = config.invocation_params.dir
    asked = [(here / str(a).split("::")[0]).resolve() for a in config.args]
    return not any(a == FAILING or FAILING in a.parents for a in asked) or None
