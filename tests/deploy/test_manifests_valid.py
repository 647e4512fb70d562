"""Rendered manifests against the Kubernetes API's own JSON schemas, offline.

``kubernetes-validate`` bundles the OpenAPI-derived schemas of every Kubernetes release it
supports; strict mode also rejects fields the API does not know (a misspelt
``readOnlyRootFileSystem`` would otherwise be dropped silently by the API server).
Validated against the oldest release the chart admits (Chart.yaml ``kubeVersion``) and the
newest the package knows.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.chart import CHART_DIR, POSTGRES, PRODUCTION_VALUES, load_values, merged, render

OLDEST = "1.27.0"


def newest_known_release() -> str:
    version: str = kubernetes_validate.utils.latest_version()
    return version


def chart_min_kube_version() -> str:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text(encoding="utf-8"))
    constraint: str = chart["kubeVersion"]
    return constraint.removeprefix(">=").removesuffix("-0")


VARIANTS: dict[str, dict[str, Any] | None] = {
    "default": None,
    "production": load_values(PRODUCTION_VALUES),
    # Every optional piece switched on at once: existing secrets, FHIR servers, JWKS files.
    "everything": merged(
        POSTGRES,
        {
            "replicaCount": 2,
            "image": {"digest": "sha256:" + "0" * 64},
            "config": {
                "authRequired": True,
                "publicBaseUrl": "https://cds.example.org",
                "extraEnv": {"CDS_MAX_BODY_BYTES": "1048576"},
            },
            "fhirServers": [{"url": "https://fhir.example.org:8443/r4", "cidrs": ["192.0.2.9/32"]}],
            "trustedIssuers": [
                {"issuer": "https://ehr.example.org/", "jwksUrl": "file:///jwks/ehr.json"}
            ],
            "analyticsToken": "a-token",
            "extraVolumes": [{"name": "jwks", "configMap": {"name": "ehr-jwks"}}],
            "extraVolumeMounts": [{"name": "jwks", "mountPath": "/jwks", "readOnly": True}],
            "networkPolicy": {"extraEgress": [{"to": [{"ipBlock": {"cidr": "192.0.2.0/28"}}]}]},
        },
    ),
}


def test_the_oldest_release_checked_is_the_charts_minimum() -> None:
    assert chart_min_kube_version() == OLDEST


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("kube_version", [OLDEST, newest_known_release()])
def test_manifests_match_the_kubernetes_schemas(variant: str, kube_version: str) -> None:
    release = render(VARIANTS[variant])
    assert release.manifests
    for manifest in release.manifests:
        # Raises SchemaNotFoundError for an unknown kind/apiVersion (e.g. a removed beta API)
        # and ValidationError for a wrong or unknown field.
        kubernetes_validate.validate(manifest, kube_version, strict=True)


def test_the_validator_rejects_what_it_should() -> None:
    """The check can fail: an unknown field and an API version long removed."""
    deployment = render().one("Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["readOnlyRootFileSystem"] = True  # wrong capitalisation
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, OLDEST, strict=True)
    old_pdb = render().one("PodDisruptionBudget") | {"apiVersion": "policy/v1beta1"}
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(old_pdb, newest_known_release(), strict=True)
