"""Does natalizumab suit this patient's disease? Exactly one indication finding per call.

Phenotype precedence and the activity assessment follow contract section 2 (Lublin 2014:
activity = relapses and/or MRI activity, assessed at least yearly).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from cds_service.clinical.findings import Finding, Indicator
from cds_service.clinical.windows import recent, within
from cds_service.knowledge.loader import Rules
from cds_service.record.model import Evidence, PatientRecord, Phenotype, PhenotypeEvidence


def select_phenotype(record: PatientRecord) -> PhenotypeEvidence | None:
    """Progressive beats relapsing whatever the dates; within a kind the latest recorded wins."""

    def latest_of(candidates: list[PhenotypeEvidence]) -> PhenotypeEvidence | None:
        if not candidates:
            return None
        return max(
            candidates,
            key=lambda p: (p.evidence.date is not None, p.evidence.date, p.evidence.reference),
        )

    progressive = [p for p in record.phenotypes if p.phenotype.progressive]
    relapsing = [p for p in record.phenotypes if p.phenotype.relapsing]
    unspecified = [p for p in record.phenotypes if p.phenotype is Phenotype.UNSPECIFIED]
    return latest_of(progressive) or latest_of(relapsing) or latest_of(unspecified)


def activity_evidence(record: PatientRecord, now: datetime, rules: Rules) -> list[Evidence]:
    """Relapse, MRI activity (count > 0) or a coded "active" MS, within the activity window."""
    today = now.date()
    window = rules.thresholds.activity_window_days.value
    evidence = recent(record.relapses, today, window)
    evidence += recent((a.evidence for a in record.mri_activity), today, window)
    evidence += [
        p.evidence
        for p in record.phenotypes
        if p.coded_active and within(p.evidence.date, today, window)
    ]
    return evidence


def assess_indication(record: PatientRecord, now: datetime, rules: Rules) -> Finding:
    chosen = select_phenotype(record)
    if chosen is None:
        if record.crohns:
            return _finding(
                "natalizumab-indicated",
                Indicator.INFO,
                tuple(record.crohns),
                rules,
                indication="crohns",
            )
        return _finding("no-approved-indication", Indicator.WARNING, (), rules)

    phenotype = chosen.phenotype
    base = (chosen.evidence,)
    if phenotype.relapsing:
        return _finding(
            "natalizumab-indicated", Indicator.INFO, base, rules, indication=phenotype.value
        )
    if phenotype is Phenotype.UNSPECIFIED:
        return _finding("ms-phenotype-unspecified", Indicator.WARNING, base, rules)
    if phenotype is Phenotype.PPMS:
        return _with_alternatives(
            _finding(
                "progressive-ms-not-indicated", Indicator.WARNING, base, rules, indication="PPMS"
            ),
            [c for alt in rules.alternatives.ppms for c in alt.citations],
        )
    return _assess_spms(record, chosen, now, rules)


def _assess_spms(
    record: PatientRecord, chosen: PhenotypeEvidence, now: datetime, rules: Rules
) -> Finding:
    today = now.date()
    window = rules.thresholds.activity_window_days.value
    active = activity_evidence(record, now, rules)
    if active:
        return _finding(
            "natalizumab-indicated",
            Indicator.INFO,
            (chosen.evidence, *active),
            rules,
            indication="active SPMS",
        )
    recent_mri = recent(record.mri_exams, today, window)
    non_active_coded = [
        p.evidence
        for p in record.phenotypes
        if p.coded_non_active and within(p.evidence.date, today, window)
    ]
    if recent_mri or non_active_coded:
        alternatives = rules.alternatives
        return _with_alternatives(
            _finding(
                "progressive-ms-not-indicated",
                Indicator.WARNING,
                (chosen.evidence, *non_active_coded, *recent_mri),
                rules,
                indication="non-active SPMS",
            ),
            [
                *alternatives.non_active_spms_citations,
                *(c for alt in alternatives.active_spms for c in alt.citations),
            ],
        )
    return _finding(
        "ms-activity-undetermined",
        Indicator.WARNING,
        (chosen.evidence,),
        rules,
        indication="SPMS",
        window_days=int(window),
    )


def _with_alternatives(finding: Finding, citations: list[str]) -> Finding:
    """The card names alternative therapies, so it cites their labels too."""
    merged = list(finding.citations)
    merged += [c for c in dict.fromkeys(citations) if c not in merged]
    return replace(finding, citations=tuple(merged))


def _finding(
    topic: str,
    indicator: Indicator,
    evidence: tuple[Evidence, ...],
    rules: Rules,
    **values: object,
) -> Finding:
    return Finding(
        topic=topic,
        indicator=indicator,
        evidence=evidence,
        citations=rules.rule(topic).citations,
        values=dict(values),
    )
