"""Render the Helm chart offline with Helm's own engine (helm-python-sdk, Helm Go SDK v4).

``helm-python-sdk`` binds through ctypes to ``libhelm_c``, a C library built from Helm's
Go SDK and shipped inside the PyPI wheel: rendering needs no ``helm`` binary, no cluster and
no network (``lookup`` returns nothing), and applies the chart's ``values.schema.json`` and
its ``fail`` checks exactly as ``helm install`` / ``helm template`` would.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "deploy" / "helm" / "natalizumab-cds"
PRODUCTION_VALUES = CHART_DIR / "values-production.yaml"
RELEASE = "cds"
NAMESPACE = "clinical"
FULLNAME = f"{RELEASE}-natalizumab-cds"

Manifest = dict[str, Any]


@dataclass
class Release:
    """One rendered release: its manifests (parsed) and its NOTES.txt."""

    manifests: list[Manifest]
    notes: str
    sources: dict[str, str] = field(default_factory=dict)

    def kinds(self) -> list[str]:
        return sorted(m["kind"] for m in self.manifests)

    def one(self, kind: str) -> Manifest:
        found = [m for m in self.manifests if m["kind"] == kind]
        assert len(found) == 1, f"expected one {kind}, found {len(found)}"
        return found[0]

    def maybe(self, kind: str) -> Manifest | None:
        found = [m for m in self.manifests if m["kind"] == kind]
        return found[0] if found else None

    def container(self) -> Manifest:
        containers = self.one("Deployment")["spec"]["template"]["spec"]["containers"]
        assert len(containers) == 1
        container: Manifest = containers[0]
        return container

    def config(self) -> dict[str, str]:
        data: dict[str, str] = self.one("ConfigMap")["data"]
        return data

    def env(self) -> dict[str, Manifest]:
        """The container's explicit env entries by name."""
        return {entry["name"]: entry for entry in self.container().get("env", [])}

    def yaml_text(self) -> str:
        """All manifests as one multi-document YAML stream, as ``helm template`` prints it."""
        return "\n---\n".join(
            text for name, text in sorted(self.sources.items()) if name.endswith(".yaml")
        )


def load_values(path: Path) -> dict[str, Any]:
    """A values file parsed the way ``helm -f FILE`` parses it."""
    values: dict[str, Any] = helm_python.values_from_yaml(path.read_text(encoding="utf-8"))
    return values


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge values layers left to right (later wins), like repeated ``-f`` flags."""
    result: dict[str, Any] = {}
    for layer in layers:
        _merge_into(result, copy.deepcopy(layer))
    return result


def _merge_into(target: dict[str, Any], layer: dict[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        else:
            target[key] = value


def render(values: dict[str, Any] | None = None) -> Release:
    """``helm template cds deploy/helm/natalizumab-cds -n clinical`` with ``values``.

    Raises :class:`helm_python.HelmError` subclasses when the chart refuses the values
    (schema or ``fail``).
    """
    with helm_python.Chart.load(CHART_DIR) as chart:
        rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    manifests: list[Manifest] = []
    notes = ""
    for name, text in sorted(rendered.items()):
        if name.endswith("NOTES.txt"):
            notes = text
            continue
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return Release(manifests=manifests, notes=notes, sources=rendered)


def render_error(values: dict[str, Any]) -> str:
    """The message with which the chart refuses ``values``; fails if it renders."""
    try:
        render(values)
    except helm_python.HelmError as error:
        return str(error)
    raise AssertionError(f"the chart rendered values it should refuse: {values}")


#: A minimal valid PostgreSQL setup, for tests that vary something else.
POSTGRES: dict[str, Any] = {
    "database": {
        "kind": "postgresql",
        "url": "postgresql+psycopg://cds:pw@db.example.org:5432/cds",
        "networkPolicyPeers": [{"ipBlock": {"cidr": "192.0.2.5/32"}}],
    }
}
