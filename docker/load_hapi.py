"""Load the patients of ``fhir_examples/`` into a FHIR server (HAPI in docker-compose).

Each example's prefetch resources are rendered for today (the examples' dates are relative
to "now") and sent as one transaction Bundle of PUTs. Resource ids other than the Patient's
are prefixed with the patient id so that examples cannot overwrite each other, and every
reference is rewritten to match. Draft orders are not loaded: they live in the hook context.

    python docker/load_hapi.py --fhir http://localhost:8090/fhir [--wait 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fhir_examples.render import example_names, load_example


def _resources(prefetch: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for value in prefetch.values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            found.extend(
                entry["resource"]
                for entry in value.get("entry") or []
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
            )
        elif isinstance(value, dict) and "resourceType" in value:
            found.append(value)
    return found


def _rewrite(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {key: _rewrite(item, mapping) for key, item in value.items()}
        reference = out.get("reference")
        if isinstance(reference, str) and reference in mapping:
            out["reference"] = mapping[reference]
        return out
    if isinstance(value, list):
        return [_rewrite(item, mapping) for item in value]
    return value


def transaction(patient_id: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A transaction Bundle of PUTs with ids made unique per patient."""
    mapping: dict[str, str] = {}
    for resource in resources:
        kind, ident = resource["resourceType"], resource.get("id")
        if kind != "Patient" and ident:
            mapping[f"{kind}/{ident}"] = f"{kind}/{patient_id}-{ident}"[: len(kind) + 65]
    entries = []
    for resource in resources:
        kind, ident = resource["resourceType"], resource.get("id")
        new = _rewrite(resource, mapping)
        if kind != "Patient" and ident:
            new["id"] = mapping[f"{kind}/{ident}"].split("/", 1)[1]
        if not new.get("id"):
            continue
        entries.append(
            {"resource": new, "request": {"method": "PUT", "url": f"{kind}/{new['id']}"}}
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def wait_for(client: httpx.Client, base: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if client.get(f"{base}/metadata", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"FHIR server {base} did not answer within {seconds} s")
        time.sleep(3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fhir", required=True, help="FHIR base URL")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the server")
    args = parser.parse_args()
    base = args.fhir.rstrip("/")
    now = datetime.now(UTC)
    with httpx.Client(headers={"Content-Type": "application/fhir+json"}) as client:
        if args.wait:
            wait_for(client, base, args.wait)
        for name in example_names():
            example = load_example(name, now)
            request = example.request
            patient_id = request["context"]["patientId"]
            bundle = transaction(patient_id, _resources(request.get("prefetch") or {}))
            response = client.post(base, json=bundle, timeout=60)
            status = "ok" if response.status_code < 300 else f"FAILED {response.status_code}"
            print(f"{name}: patient {patient_id}, {len(bundle['entry'])} resources: {status}")
            if response.status_code >= 300:
                return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
