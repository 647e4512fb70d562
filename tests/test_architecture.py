"""Layering rules from design.md, checked on the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cds_service"

FORBIDDEN = {
    "protocol": ("cds_service.clinical", "cds_service.cards", "cds_service.record"),
    "clinical": (
        "fastapi",
        "starlette",
        "httpx",
        "fhir.resources",
        "cds_service.protocol",
        "cds_service.cards",
        "sqlalchemy",
    ),
    "record": (
        "fastapi",
        "starlette",
        "httpx",
        "cds_service.protocol",
        "cds_service.clinical",
        "cds_service.cards",
    ),
    "cards": ("fastapi", "starlette", "httpx", "fhir.resources", "cds_service.protocol"),
    "knowledge": ("fastapi", "httpx", "cds_service.protocol", "cds_service.clinical"),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports(layer: str) -> None:
    offences = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for name in _imports(path)
        if name.startswith(FORBIDDEN[layer])
    ]
    assert not offences
