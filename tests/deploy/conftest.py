"""The slow deployment tests run only when asked for: ``pytest -m slow tests/deploy``.

``bash .ci/run`` (no ``-m``) must stay fast: the multi-replica test takes minutes and kills
processes. It is skipped unless the marker expression selects ``slow``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    expression = str(config.getoption("markexpr") or "")
    if "slow" in expression and "not slow" not in expression:
        return
    skip = pytest.mark.skip(reason="slow: run with `pytest -m slow tests/deploy`")
    for item in items:
        if item.get_closest_marker("slow") and HERE in item.path.resolve().parents:
            item.add_marker(skip)
