"""The contract's card topics (section 3) and service ids, shared by the example tests."""

from __future__ import annotations

TOPIC_SYSTEM = "https://natalizumab-cds.example/fhir/CodeSystem/card-topic"

# Contract section 3: topic code -> the indicators it may carry.
TOPIC_INDICATORS: dict[str, frozenset[str]] = {
    "natalizumab-indicated": frozenset({"info"}),
    "progressive-ms-not-indicated": frozenset({"warning"}),
    "spms-on-natalizumab-review": frozenset({"info"}),
    "ms-activity-undetermined": frozenset({"warning"}),
    "ms-phenotype-unspecified": frozenset({"warning", "info"}),
    "no-approved-indication": frozenset({"warning"}),
    "pediatric-patient": frozenset({"warning"}),
    "pml-history": frozenset({"critical"}),
    "natalizumab-hypersensitivity": frozenset({"critical"}),
    "immunocompromised": frozenset({"warning"}),
    "concomitant-immunotherapy": frozenset({"warning", "critical"}),
    "herpes-infection": frozenset({"warning", "critical"}),
    "liver-injury": frozenset({"warning"}),
    "thrombocytopenia": frozenset({"warning"}),
    "pregnancy": frozenset({"warning"}),
    "pml-risk": frozenset({"info", "warning", "critical"}),
    "jcv-test-due": frozenset({"warning"}),
    "mri-due": frozenset({"warning"}),
}

INDICATION_TOPICS = frozenset(
    {
        "natalizumab-indicated",
        "progressive-ms-not-indicated",
        "spms-on-natalizumab-review",
        "ms-activity-undetermined",
        "ms-phenotype-unspecified",
        "no-approved-indication",
    }
)

SERVICE_HOOKS = {
    "natalizumab-order-select": "order-select",
    "natalizumab-order-sign": "order-sign",
    "natalizumab-medication-prescribe": "medication-prescribe",
}
