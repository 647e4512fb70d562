"""Does natalizumab suit this patient's disease? Exactly one indication finding per call.

Phenotype precedence follows contract section 2; SPMS is judged by its activity
(``clinical.activity``) and by whether natalizumab is current (``record.therapy``): activity
suppressed by the drug is a response, not proof of non-active disease.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from cds_service.clinical.activity import assess_activity
from cds_service.clinical.findings import Finding, Indicator
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


def ms_or_cis(record: PatientRecord) -> bool:
    """MS of any phenotype, or CIS, is recorded (the MRI rules apply to these only)."""
    return select_phenotype(record) is not None


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
    on_therapy = record.therapy.current
    if phenotype.relapsing:
        return _finding(
            "natalizumab-indicated", Indicator.INFO, base, rules, indication=phenotype.value
        )
    if phenotype is Phenotype.UNSPECIFIED:
        # Before ICD-10-CM FY2026, G35 was the only MS code: on a continuation it is a coding
        # gap to close, not a doubt about the indication worth a warning on every order.
        indicator = Indicator.INFO if on_therapy else Indicator.WARNING
        return _finding("ms-phenotype-unspecified", indicator, base, rules, on_therapy=on_therapy)
    if phenotype is Phenotype.PPMS:
        return _with_alternatives(
            _finding(
                "progressive-ms-not-indicated",
                Indicator.WARNING,
                (*base, *_current_by(record)),
                rules,
                indication="PPMS",
                on_therapy=on_therapy,
            ),
            [c for alt in rules.alternatives.ppms for c in alt.citations],
        )
    return _assess_spms(record, chosen, now, rules)


def _current_by(record: PatientRecord) -> tuple[Evidence, ...]:
    use = record.therapy.current_by
    return (use.evidence,) if use is not None else ()


def _assess_spms(
    record: PatientRecord, chosen: PhenotypeEvidence, now: datetime, rules: Rules
) -> Finding:
    """Active -> indicated; on therapy -> review; non-active off treatment -> not indicated;
    only on-treatment non-activity (a restart) -> review; nothing assessed -> undetermined."""
    activity = assess_activity(record, now, rules)
    window = int(rules.thresholds.activity_window_days.value)
    latest = activity.latest_assessment
    if activity.active:
        return _finding(
            "natalizumab-indicated",
            Indicator.INFO,
            (chosen.evidence, *activity.active),
            rules,
            indication="active SPMS",
        )
    therapy = record.therapy
    if therapy.current or (activity.on_treatment and not activity.non_active):
        return _finding(
            "spms-on-natalizumab-review",
            Indicator.INFO,
            (chosen.evidence, *_current_by(record), *activity.on_treatment, *activity.non_active),
            rules,
            on_therapy=therapy.current,
            latest_assessment=latest,
            last_exposure=therapy.last_exposure,
            unassessed_mris=list(activity.unassessed_mris),
        )
    if activity.non_active:
        alternatives = rules.alternatives
        return _with_alternatives(
            _finding(
                "progressive-ms-not-indicated",
                Indicator.WARNING,
                (chosen.evidence, *activity.non_active),
                rules,
                indication="non-active SPMS",
                on_therapy=False,
            ),
            [
                *alternatives.non_active_spms_citations,
                *(c for alt in alternatives.active_spms for c in alt.citations),
            ],
        )
    return _finding(
        "ms-activity-undetermined",
        Indicator.WARNING,
        (chosen.evidence, *activity.unassessed_mris),
        rules,
        indication="SPMS",
        window_days=window,
        unassessed_mris=list(activity.unassessed_mris),
        gd_only=list(activity.gd_only),
        latest_assessment=latest,
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
