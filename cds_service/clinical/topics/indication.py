"""Does natalizumab suit this patient's disease? Exactly one indication finding per call.

Phenotype precedence follows contract section 2; SPMS is judged by its activity
(``clinical.activity``) and by whether natalizumab is current (``record.therapy``): activity
suppressed by the drug is a response, not proof of non-active disease.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from cds_service.clinical.activity import assess_activity
from cds_service.clinical.findings import Finding, Indicator, NoValues, TopicValues
from cds_service.clinical.registry import emits, rule
from cds_service.knowledge.loader import Rules
from cds_service.record.model import Evidence, PatientRecord, Phenotype, PhenotypeEvidence


class Indication(StrEnum):
    """The labelled indication a natalizumab-indicated finding rests on."""

    CIS = "cis"
    RRMS = "rrms"
    ACTIVE_SPMS = "active-spms"
    CROHNS = "crohns"


class ProgressiveKind(StrEnum):
    PPMS = "ppms"
    NON_ACTIVE_SPMS = "non-active-spms"


@dataclass(frozen=True)
class IndicatedValues(TopicValues):
    indication: Indication


@dataclass(frozen=True)
class ProgressiveValues(TopicValues):
    kind: ProgressiveKind
    on_therapy: bool


@dataclass(frozen=True)
class ReviewValues(TopicValues):
    on_therapy: bool
    latest_assessment: Evidence | None
    last_exposure: date | None


@dataclass(frozen=True)
class UndeterminedValues(TopicValues):
    unassessed_mris: tuple[Evidence, ...]
    gd_only: tuple[Evidence, ...]
    latest_assessment: Evidence | None


@dataclass(frozen=True)
class UnspecifiedValues(TopicValues):
    on_therapy: bool


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


def crohns_indication(record: PatientRecord) -> bool:
    """The indication is Crohn's disease: it is recorded and no MS or CIS is."""
    return not ms_or_cis(record) and bool(record.crohns)


@rule(
    emits("natalizumab-indicated", IndicatedValues, Indicator.INFO),
    emits("progressive-ms-not-indicated", ProgressiveValues, Indicator.WARNING),
    emits("spms-on-natalizumab-review", ReviewValues, Indicator.INFO),
    emits("ms-activity-undetermined", UndeterminedValues, Indicator.WARNING),
    emits("ms-phenotype-unspecified", UnspecifiedValues, Indicator.WARNING, Indicator.INFO),
    emits("no-approved-indication", NoValues, Indicator.WARNING),
    # Its definition ends "the indication cannot be confirmed": what a failed rule means.
    unassessed="ms-phenotype-unspecified",
)
def assess_indication(record: PatientRecord, now: datetime, rules: Rules) -> Finding[TopicValues]:
    chosen = select_phenotype(record)
    if chosen is None:
        if record.crohns:
            return _finding(
                "natalizumab-indicated",
                Indicator.INFO,
                tuple(record.crohns),
                rules,
                IndicatedValues(Indication.CROHNS),
            )
        return _finding("no-approved-indication", Indicator.WARNING, (), rules, NoValues())

    phenotype = chosen.phenotype
    base = (chosen.evidence,)
    on_therapy = record.therapy.current
    if phenotype.relapsing:
        indication = Indication.CIS if phenotype is Phenotype.CIS else Indication.RRMS
        return _finding(
            "natalizumab-indicated", Indicator.INFO, base, rules, IndicatedValues(indication)
        )
    if phenotype is Phenotype.UNSPECIFIED:
        # Before ICD-10-CM FY2026, G35 was the only MS code: on a continuation it is a coding
        # gap to close, not a doubt about the indication worth a warning on every order.
        indicator = Indicator.INFO if on_therapy else Indicator.WARNING
        return _finding(
            "ms-phenotype-unspecified", indicator, base, rules, UnspecifiedValues(on_therapy)
        )
    if phenotype is Phenotype.PPMS:
        return _with_alternatives(
            _finding(
                "progressive-ms-not-indicated",
                Indicator.WARNING,
                (*base, *_current_by(record)),
                rules,
                ProgressiveValues(ProgressiveKind.PPMS, on_therapy),
            ),
            [c for alt in rules.alternatives.ppms for c in alt.citations],
        )
    return _assess_spms(record, chosen, now, rules)


def _current_by(record: PatientRecord) -> tuple[Evidence, ...]:
    use = record.therapy.current_by
    return (use.evidence,) if use is not None else ()


def _assess_spms(
    record: PatientRecord, chosen: PhenotypeEvidence, now: datetime, rules: Rules
) -> Finding[TopicValues]:
    """Active -> indicated; on therapy -> review; non-active off treatment -> not indicated;
    only on-treatment non-activity (a restart) -> review; nothing assessed -> undetermined."""
    activity = assess_activity(record, now, rules)
    latest = activity.latest_assessment
    if activity.active:
        return _finding(
            "natalizumab-indicated",
            Indicator.INFO,
            (chosen.evidence, *activity.active),
            rules,
            IndicatedValues(Indication.ACTIVE_SPMS),
        )
    therapy = record.therapy
    if therapy.current or (activity.on_treatment and not activity.non_active):
        return _finding(
            "spms-on-natalizumab-review",
            Indicator.INFO,
            (chosen.evidence, *_current_by(record), *activity.on_treatment, *activity.non_active),
            rules,
            ReviewValues(therapy.current, latest, therapy.last_exposure),
        )
    if activity.non_active:
        alternatives = rules.alternatives
        return _with_alternatives(
            _finding(
                "progressive-ms-not-indicated",
                Indicator.WARNING,
                (chosen.evidence, *activity.non_active),
                rules,
                ProgressiveValues(ProgressiveKind.NON_ACTIVE_SPMS, on_therapy=False),
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
        UndeterminedValues(activity.unassessed_mris, activity.gd_only, latest),
    )


def _with_alternatives(finding: Finding[TopicValues], citations: list[str]) -> Finding[TopicValues]:
    """The card names alternative therapies, so it cites their labels too."""
    merged = list(finding.citations)
    merged += [c for c in dict.fromkeys(citations) if c not in merged]
    return replace(finding, citations=tuple(merged))


def _finding(
    topic: str,
    indicator: Indicator,
    evidence: tuple[Evidence, ...],
    rules: Rules,
    values: TopicValues,
) -> Finding[TopicValues]:
    return Finding(topic, indicator, evidence, rules.rule(topic).citations, values)
