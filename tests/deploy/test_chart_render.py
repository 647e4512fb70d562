"""The Helm chart, rendered offline by Helm's own engine: what a cluster would receive.

Each test renders ``deploy/helm/natalizumab-cds`` (default values, ``values-production.yaml``
or a variation) and checks the manifests: hardening, probes, the settings the pods get (parsed
by the service's own :class:`Settings`), the replay store rule, the NetworkPolicy, secrets,
and the values the chart must refuse.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import helm_python
import pytest

from cds_service.config import Settings
from tests.deploy.chart import (
    CHART_DIR,
    FULLNAME,
    NAMESPACE,
    POSTGRES,
    PRODUCTION_VALUES,
    REPO_ROOT,
    Release,
    load_values,
    merged,
    render,
    render_error,
)

#: Settings the chart passes that another helper is adding to the service in this round.
PENDING_SETTINGS = {"CDS_ANALYTICS_TOKEN"}


@pytest.fixture(scope="module")
def default() -> Release:
    return render()


@pytest.fixture(scope="module")
def production() -> Release:
    return render(load_values(PRODUCTION_VALUES))


@pytest.fixture(params=["default", "production"])
def release(request: pytest.FixtureRequest) -> Release:
    """Both shipped values files, for the properties every install must have."""
    chosen: Release = request.getfixturevalue(request.param)
    return chosen


def secret_data(release: Release) -> dict[str, str]:
    secret = release.maybe("Secret")
    if secret is None:
        return {}
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def pod_settings(release: Release, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The service's Settings as a pod of this release would read them (ConfigMap + Secret)."""
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"CDS_{name.upper()}", raising=False)
    environment = dict(release.config())
    chart_secret = secret_data(release)
    for name, entry in release.env().items():
        ref = entry["valueFrom"]["secretKeyRef"]
        if ref["name"] == FULLNAME:
            environment[name] = chart_secret[ref["key"]]
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    return Settings()


# --- what gets deployed -------------------------------------------------------------------


def test_default_values_deploy_one_pod_with_sqlite_on_a_kept_volume(default: Release) -> None:
    assert default.kinds() == [
        "ConfigMap",
        "Deployment",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]
    deployment = default.one("Deployment")
    assert deployment["spec"]["replicas"] == 1
    # A ReadWriteOnce volume cannot follow a rolling update to another node.
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    claim = default.one("PersistentVolumeClaim")
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    mounts = {m["mountPath"]: m["name"] for m in default.container()["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    data_volume = volumes[mounts["/data"]]
    assert data_volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert default.config()["CDS_DATABASE_URL"] == "sqlite:////data/cds_feedback.db"


def test_production_values_autoscale_several_pods_on_postgresql(production: Release) -> None:
    assert production.kinds() == [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Secret",
        "Service",
        "ServiceAccount",
    ]
    deployment = production.one("Deployment")
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    hpa = production.one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": FULLNAME,
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 8)
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        }
    ]
    pdb = production.one("PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    # Several pods spread over nodes and zones by default.
    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }
    assert production.maybe("PersistentVolumeClaim") is None


def test_every_manifest_is_namespaced_and_labelled(release: Release) -> None:
    for manifest in release.manifests:
        metadata = manifest["metadata"]
        assert metadata["namespace"] == NAMESPACE, manifest["kind"]
        assert metadata["labels"]["app.kubernetes.io/instance"] == "cds"
        assert metadata["labels"]["app.kubernetes.io/name"] == "natalizumab-cds"


def test_service_selects_the_pods_on_the_http_port(release: Release) -> None:
    service = release.one("Service")
    pod_labels = release.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert release.container()["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"}
    ]


# --- hardening ----------------------------------------------------------------------------


def dockerfile_uid_gid() -> tuple[int, int]:
    text = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    user = re.search(r"^USER (\d+):(\d+)$", text, re.MULTILINE)
    assert user, "the Dockerfile's USER must be numeric (uid:gid) for runAsNonRoot"
    assert f"--uid {user.group(1)}" in text and f"--gid {user.group(2)}" in text
    return int(user.group(1)), int(user.group(2))


def test_pods_run_non_root_read_only_without_capabilities(release: Release) -> None:
    pod = release.one("Deployment")["spec"]["template"]["spec"]
    uid, gid = dockerfile_uid_gid()
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "fsGroup": gid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["automountServiceAccountToken"] is False
    assert release.one("ServiceAccount")["automountServiceAccountToken"] is False
    context = release.container()["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_only_volumes_are_writable(release: Release) -> None:
    """With a read-only root, every writable path must be a volume (tests/deploy shows the
    service needs none but the SQLite directory; /tmp is there for libraries)."""
    pod = release.one("Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in release.container()["volumeMounts"]}
    assert volumes[mounts["/tmp"]]["emptyDir"] == {"sizeLimit": "64Mi"}
    assert all(name in volumes for name in mounts.values())


def test_requests_limits_and_probes(release: Release) -> None:
    container = release.container()
    for part in ("requests", "limits"):
        assert set(container["resources"][part]) == {"cpu", "memory"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["command"] == [
        "cds-service",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
        "--workers",
        "2",
    ]


def test_image_by_digest_when_given() -> None:
    digest = "sha256:" + "ab" * 32
    release = render({"image": {"repository": "registry.example.org/cds", "digest": digest}})
    assert release.container()["image"] == f"registry.example.org/cds@{digest}"
    annotations = release.one("Deployment")["metadata"]["annotations"]
    assert not any("CKV_K8S_43" in value for value in annotations.values())
    assert render().container()["image"] == "natalizumab-cds:0.1.0"  # the chart's appVersion


# --- the settings the pods get ------------------------------------------------------------


def test_every_setting_the_chart_passes_is_one_the_service_reads(release: Release) -> None:
    known = {f"CDS_{name.upper()}" for name in Settings.model_fields} | PENDING_SETTINGS
    passed = set(release.config()) | set(release.env()) | set(secret_data(release))
    assert passed - known == set()


def test_production_pods_read_the_intended_settings(
    production: Release, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = pod_settings(production, monkeypatch)
    assert settings.auth_required is True
    assert settings.public_base_url == "https://cds.example.org"
    assert settings.trusted_issuers == {
        "https://ehr.example.org/": "https://ehr.example.org/.well-known/jwks.json"
    }
    assert settings.allowed_fhir_servers == ["https://fhir.example.org/r4"]
    assert settings.jti_store == "database"
    assert settings.demo_enabled is False
    assert settings.cors_origins == ["https://ehr.example.org"]
    assert settings.audit_retention_days == 730
    env = production.env()
    # PostgreSQL from CloudNativePG's generated Secret; the analytics token from the operator's.
    assert env["CDS_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "cds-db-app",
        "key": "uri",
    }
    assert env["CDS_ANALYTICS_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "natalizumab-cds-analytics",
        "key": "CDS_ANALYTICS_TOKEN",
        "optional": True,
    }


def test_default_pods_read_the_intended_settings(
    default: Release, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = pod_settings(default, monkeypatch)
    assert settings.database_url == "sqlite:////data/cds_feedback.db"
    assert settings.auth_required is False
    assert settings.allowed_fhir_servers == []
    # One pod, but two worker processes: the replay store must still be shared.
    assert settings.jti_store == "database"
    assert settings.audit_retention_days == 365


def test_secret_values_stay_out_of_the_configmap_and_the_pod_spec() -> None:
    values = merged(
        POSTGRES,
        {
            "analyticsToken": "analytics-token-value",
            "trustedIssuers": [
                {"issuer": "https://ehr.example.org/", "jwksUrl": "file:///jwks/ehr.json"}
            ],
        },
    )
    release = render(values)
    data = secret_data(release)
    assert data == {
        "CDS_DATABASE_URL": POSTGRES["database"]["url"],
        "CDS_ANALYTICS_TOKEN": "analytics-token-value",
        "CDS_TRUSTED_ISSUERS": '{"https://ehr.example.org/":"file:///jwks/ehr.json"}',
    }
    text_outside_secret = repr([m for m in release.manifests if m["kind"] != "Secret"])
    assert "pw@db.example.org" not in text_outside_secret
    assert "analytics-token-value" not in text_outside_secret
    # Not even a digest of them: a pod annotation would allow offline guessing.
    secret_text = release.sources["natalizumab-cds/templates/secret.yaml"]
    assert hashlib.sha256(secret_text.encode()).hexdigest() not in text_outside_secret
    for name in data:
        ref = release.env()[name]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": FULLNAME, "key": name}


def test_an_existing_secret_replaces_the_charts_secret() -> None:
    values = merged(
        POSTGRES,
        {"database": {"url": ""}, "existingSecret": "hospital-cds-secrets"},
    )
    release = render(values)
    assert release.maybe("Secret") is None
    env = release.env()
    assert env["CDS_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "hospital-cds-secrets",
        "key": "CDS_DATABASE_URL",
    }
    for optional in ("CDS_TRUSTED_ISSUERS", "CDS_ANALYTICS_TOKEN"):
        assert env[optional]["valueFrom"]["secretKeyRef"]["optional"] is True


def test_a_changed_setting_rolls_the_pods() -> None:
    def checksum(release: Release) -> str:
        value: str = release.one("Deployment")["spec"]["template"]["metadata"]["annotations"][
            "checksum/config"
        ]
        return value

    assert checksum(render({"config": {"logLevel": "WARNING"}})) != checksum(render())


def test_extra_settings_pass_through_but_cannot_override_the_charts() -> None:
    release = render({"config": {"extraEnv": {"CDS_MAX_BODY_BYTES": "1048576"}}})
    assert release.config()["CDS_MAX_BODY_BYTES"] == "1048576"
    message = render_error({"config": {"extraEnv": {"CDS_JTI_STORE": "memory"}}})
    assert "config.extraEnv.CDS_JTI_STORE is set by the chart" in message
    # Only CDS_* settings: PATH, PYTHONPATH or LD_PRELOAD would change what the pod runs.
    message = render_error({"config": {"extraEnv": {"PATH": "/tmp"}}})
    assert "'PATH' does not match pattern '^CDS_[A-Z0-9_]+$'" in message


# --- the replay store and the database: one service, not several -------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"workers": 1}, "memory"),
        ({}, "database"),  # one pod, two workers
        (merged(POSTGRES, {"replicaCount": 3, "workers": 1}), "database"),
        (merged(POSTGRES, {"workers": 1, "autoscaling": {"enabled": True}}), "database"),
        ({"workers": 1, "config": {"jtiStore": "database"}}, "database"),
    ],
)
def test_jti_store_is_shared_whenever_more_than_one_process_answers(
    values: dict[str, Any], expected: str
) -> None:
    assert render(values).config()["CDS_JTI_STORE"] == expected


@pytest.mark.parametrize(
    "values",
    [
        merged(POSTGRES, {"replicaCount": 2, "workers": 1}),
        {"workers": 2},
        merged(POSTGRES, {"workers": 1, "autoscaling": {"enabled": True, "maxReplicas": 2}}),
    ],
)
def test_memory_jti_store_with_several_processes_is_refused(values: dict[str, Any]) -> None:
    message = render_error(merged(values, {"config": {"jtiStore": "memory"}}))
    assert "config.jtiStore=memory" in message and "replayed" in message


@pytest.mark.parametrize(
    "values", [{"replicaCount": 2}, {"autoscaling": {"enabled": True}}], ids=["replicas", "hpa"]
)
def test_sqlite_with_several_pods_is_refused(values: dict[str, Any]) -> None:
    assert "database.kind=sqlite allows one replica only" in render_error(values)


def test_postgresql_needs_a_postgresql_url_and_a_network_path() -> None:
    no_url = merged(POSTGRES, {"database": {"url": ""}})
    assert "needs database.url" in render_error(no_url)
    sqlite_url = merged(POSTGRES, {"database": {"url": "sqlite:////data/x.db"}})
    assert "must be a PostgreSQL URL" in render_error(sqlite_url)
    no_peers = merged(POSTGRES, {"database": {"networkPolicyPeers": []}})
    assert "database.networkPolicyPeers" in render_error(no_peers)
    without_policy = render(merged(no_peers, {"networkPolicy": {"enabled": False}}))
    assert without_policy.maybe("NetworkPolicy") is None


def test_auth_needs_the_public_base_url_and_an_issuer() -> None:
    issuers = [{"issuer": "https://ehr.example.org/", "jwksUrl": "file:///jwks/ehr.json"}]
    no_base = {"config": {"authRequired": True}, "trustedIssuers": issuers}
    assert "config.publicBaseUrl" in render_error(no_base)
    no_issuer = {"config": {"authRequired": True, "publicBaseUrl": "https://cds.example.org"}}
    assert "needs trustedIssuers" in render_error(no_issuer)


def test_schema_refuses_unknown_and_ill_typed_values() -> None:
    assert "replicas" in render_error({"replicas": 3})  # a typo for replicaCount
    assert "kind" in render_error({"database": {"kind": "mysql"}})
    assert "workers" in render_error({"workers": "two"})


# --- the NetworkPolicy: egress only to DNS, the database, FHIR servers and JWK Sets -------


def egress_by_port(release: Release) -> dict[tuple[int, str], list[Any]]:
    rules: dict[tuple[int, str], list[Any]] = {}
    for rule in release.one("NetworkPolicy")["spec"]["egress"]:
        # A rule without `to` (or without ports) would open every destination.
        assert rule["to"], rule
        assert rule["ports"], rule
        for port in rule["ports"]:
            rules.setdefault((port["port"], port["protocol"]), []).extend(rule["to"])
    return rules


def test_production_egress_is_dns_database_fhir_and_jwks_only(production: Release) -> None:
    policy = production.one("NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    pods = production.one("Deployment")["spec"]["selector"]["matchLabels"]
    assert policy["spec"]["podSelector"]["matchLabels"] == pods
    rules = egress_by_port(production)
    dns = [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert rules == {
        (53, "UDP"): dns,
        (53, "TCP"): dns,
        (5432, "TCP"): [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "cds-db"}}}],
        (443, "TCP"): [
            {"ipBlock": {"cidr": "203.0.113.10/32"}},  # the FHIR server
            {"ipBlock": {"cidr": "198.51.100.20/32"}},  # the EHR's JWK Set
        ],
    }
    ingress_controller = {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
    assert policy["spec"]["ingress"] == [
        {
            "ports": [{"port": "http", "protocol": "TCP"}],
            "from": [{"namespaceSelector": ingress_controller}],
        }
    ]


def test_default_egress_is_dns_only(default: Release) -> None:
    assert set(egress_by_port(default)) == {(53, "UDP"), (53, "TCP")}


def test_fhir_server_ports_come_from_their_urls() -> None:
    values = merged(
        POSTGRES,
        {
            "fhirServers": [
                {"url": "https://fhir.example.org:8443/r4", "cidrs": ["192.0.2.10/32"]},
                {"url": "http://hapi.example.org/fhir", "cidrs": ["192.0.2.11/32"]},
                {"url": "https://[2001:db8::1]/fhir", "cidrs": ["2001:db8::1/128"]},
            ]
        },
    )
    release = render(values)
    rules = egress_by_port(release)
    assert rules[(8443, "TCP")] == [{"ipBlock": {"cidr": "192.0.2.10/32"}}]
    assert rules[(80, "TCP")] == [{"ipBlock": {"cidr": "192.0.2.11/32"}}]
    assert rules[(443, "TCP")] == [{"ipBlock": {"cidr": "2001:db8::1/128"}}]
    assert release.config()["CDS_ALLOWED_FHIR_SERVERS"] == (
        "https://fhir.example.org:8443/r4,http://hapi.example.org/fhir,https://[2001:db8::1]/fhir"
    )


def test_hosts_without_cidrs_are_refused_while_the_policy_is_on() -> None:
    fhir = {"fhirServers": [{"url": "https://fhir.example.org/r4"}]}
    assert "fhirServers[0] (https://fhir.example.org/r4) needs cidrs" in render_error(fhir)
    assert render(merged(fhir, {"networkPolicy": {"enabled": False}})).config()[
        "CDS_ALLOWED_FHIR_SERVERS"
    ] == ("https://fhir.example.org/r4")
    issuer = {
        "trustedIssuers": [
            {"issuer": "https://ehr.example.org/", "jwksUrl": "https://ehr.example.org/jwks"}
        ]
    }
    assert "trustedIssuers[0] (https://ehr.example.org/) needs cidrs" in render_error(issuer)


# --- Helm's own checks and the notes ------------------------------------------------------


@pytest.mark.parametrize("values_file", [None, PRODUCTION_VALUES], ids=["default", "production"])
def test_helm_lint_strict_finds_nothing(values_file: Any) -> None:
    values = load_values(values_file) if values_file else None
    report = helm_python.lint(CHART_DIR, values, strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors
    assert report["errors"] == [] and problems == []


def test_notes_say_what_was_installed(default: Release, production: Release) -> None:
    assert "Authentication: OFF" in default.notes
    assert "SQLite on the PersistentVolumeClaim" in default.notes
    assert "Pods: 3 to 8 (CPU autoscaling), 2 worker processes each" in production.notes
    assert "JWT replay store: database" in production.notes
    assert "audience base https://cds.example.org" in production.notes
