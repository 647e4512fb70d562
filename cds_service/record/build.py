"""Build one PatientRecord from the pooled FHIR JSON of a call.

Each resource is first tested on its raw JSON against the value sets a rule could use; only
the ones that could matter are validated with fhir.resources and read. This keeps the cost of
a long record (thousands of unrelated labs) far below one model validation per resource.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, Final

import orjson

from cds_service.knowledge.loader import knowledge
from cds_service.record.dates import date_precision, first_date, parse_fhir_date
from cds_service.record.fhir import (
    JSON,
    clinical_status,
    codes_of,
    concept_label,
    concept_name,
    concepts,
    is_excluded,
    number,
    reference_of,
    text_of,
)
from cds_service.record.jcv import JcvGrouper
from cds_service.record.medications import MedicationIndex
from cds_service.record.memo import FACTS_MEMO, Facts
from cds_service.record.model import (
    ConditionFact,
    DataNote,
    Evidence,
    LesionKind,
    MedicationUse,
    MriLesionCount,
    NatalizumabOrder,
    ObservationFact,
    PatientRecord,
    Phenotype,
    PhenotypeEvidence,
    ProcedureFact,
    SkippedResources,
    TextNotRead,
    UnreadOrderParts,
)
from cds_service.record.observations import quantity, upper_limit, value_concept
from cds_service.record.order_shapes import read_order
from cds_service.record.reading import MAX_TEXT_CHARS_PER_CALL, CallReading, call_reading
from cds_service.record.record_cache import RECORD_CACHE, RememberedRecord, record_key
from cds_service.record.suspected_pml import is_suspected, jcv_dna_detected
from cds_service.record.terminology import ConceptKey, Terminology, concept_key, terminology
from cds_service.record.therapy import exposure, read_use, therapy
from cds_service.record.trigger import product_name, scan_orders
from cds_service.record.validate import VALIDATION_CACHE, content_digest

logger = logging.getLogger("cds_service.record")

CONDITION_SETS = (
    "ms-phenotype-rrms",
    "ms-phenotype-spms",
    "ms-phenotype-ppms",
    "ms-phenotype-cis",
    "ms-phenotype-unspecified",
    "ms-relapse",
    "crohns-disease",
    "immunocompromising-conditions",
    "pml-history",
)
OBSERVATION_SETS = ("ms-relapse", "mri-activity", "brain-mri", "anti-jcv-antibody", "jcv-dna")
LESION_KINDS = {
    "mri-new-or-enlarging-t2-lesions": LesionKind.NEW_OR_ENLARGING_T2,
    "mri-gd-enhancing-lesions": LesionKind.GD_ENHANCING,
}
MEDICATION_SETS = ("natalizumab", "prior-immunosuppressants", "concomitant-immunotherapy")
MEDICATION_TYPES = frozenset(
    {"MedicationRequest", "MedicationStatement", "MedicationAdministration"}
)
#: Read from the resource alone, so their facts may be remembered (:mod:`.memo`); a Patient
#: is kept whole for the end of the build, not read into facts.
REMEMBERED_TYPES = frozenset(
    {
        "Condition",
        "Observation",
        "DiagnosticReport",
        "Procedure",
        "ImagingStudy",
        "AllergyIntolerance",
        *MEDICATION_TYPES,
    }
)
PHENOTYPE_SETS = (
    (Phenotype.SPMS, "ms-phenotype-spms"),
    (Phenotype.PPMS, "ms-phenotype-ppms"),
    (Phenotype.RRMS, "ms-phenotype-rrms"),
    (Phenotype.CIS, "ms-phenotype-cis"),
)
JCV_FINAL = frozenset({"final", "amended", "corrected"})
#: Results a rule may judge: reported (preliminary counts: a rise must not wait for sign-off).
RESULT_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})
NOT_DONE = frozenset({"not-taken", "not-done", "cancelled"})


@dataclass
class BuildResult:
    """The record, the natalizumab orders that trigger the cards, and data-quality notes."""

    record: PatientRecord
    orders: list[NatalizumabOrder]
    notes: list[DataNote] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def log_skipped(rtype: str, problem: str) -> None:
    logger.warning("skipped invalid resource", extra={"resource_type": rtype, "problem": problem})


def _identity(resource: JSON) -> bytes:
    """Canonical bytes of a resource, so exact duplicates are read once, whatever their order."""
    try:
        return orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):  # e.g. integers beyond 64 bits
        return json.dumps(resource, sort_keys=True, default=repr).encode()


def _draft_key(resource: JSON) -> tuple[str, str] | None:
    rid = resource.get("id")
    rtype = resource.get("resourceType")
    if isinstance(rid, str) and isinstance(rtype, str):
        return (rtype, rid)
    return None


class _Builder:
    def __init__(
        self,
        pooled: Sequence[JSON],
        draft_orders: Sequence[JSON],
        patient_id: str | None,
        reading: CallReading | None = None,
    ) -> None:
        self.tm: Terminology = terminology()
        self.reading = reading or CallReading(MAX_TEXT_CHARS_PER_CALL)
        self.knowledge = knowledge()
        self.thresholds = self.knowledge.rules.thresholds
        # The value sets the topics read as generic facts (rules.json "reads").
        self.reads = self.knowledge.rules.reads
        self.condition_sets = (*CONDITION_SETS, *self.reads.conditions)
        self.observation_sets = (*OBSERVATION_SETS, *self.reads.observations)
        # The relevance tests every resource gets, looked up once per call.
        self.condition_union = self.tm.any_of(self.condition_sets)
        self.observation_union = self.tm.any_of(self.observation_sets)
        self.medication_union = self.tm.any_of(MEDICATION_SETS)
        self.patient_id = patient_id
        self.pooled = pooled
        # Natalizumab trigger orders (by object: the pool holds the EHR's own dicts) are read
        # by natalizumab_orders, never validated away by feed.
        self.trigger_objects: set[int] = set()
        self.unread_order_parts: dict[str, tuple[str, ...]] = {}
        self.record = PatientRecord()
        self.medications = MedicationIndex(pooled)
        self.draft_keys = {key for key in map(_draft_key, draft_orders) if key}
        self.draft_identities = {_identity(order) for order in draft_orders}
        self.jcv = JcvGrouper(self.tm, self.thresholds)
        # Every list reading a resource may append to, in a fixed order (:meth:`read_once`).
        self.fact_lists: tuple[list[Any], ...] = (
            *(
                value
                for value in (getattr(self.record, f.name) for f in fields(self.record))
                if isinstance(value, list)
            ),
            self.jcv.parts,
        )
        self.skipped: Counter[str] = Counter()
        #: (type, problem) of each resource skipped as invalid, in the order they were logged.
        self.skipped_problems: list[tuple[str, str]] = []
        self.patients: list[JSON] = []
        self._keyed: Any = None  # the concept whose membership key is self._key
        self._key: ConceptKey | None = None

    # -- plumbing ----------------------------------------------------------------------------

    def accept(self, resource: JSON, digest: bytes) -> bool:
        """Validate a resource a rule could use; skip and log it when invalid. Each resource
        comes here once per call (``feed`` drops repeats); verdicts are cached across calls."""
        problem = VALIDATION_CACHE.problem(resource, digest)
        if problem is None:
            return True
        self.skip(str(resource.get("resourceType")), problem)
        return False

    def skip(self, rtype: str, problem: str) -> None:
        """Count and log a resource left out as invalid (never its content)."""
        self.skipped[rtype] += 1
        self.skipped_problems.append((rtype, problem))
        log_skipped(rtype, problem)

    def feed(self, resources: Iterable[Any]) -> None:
        seen: set[bytes] = set()
        reading = self.reading
        for resource in resources:
            if not isinstance(resource, dict):
                self.skipped["(not a resource)"] += 1
                continue
            if id(resource) in self.trigger_objects:
                continue
            rtype = resource.get("resourceType")
            handler = _HANDLERS.get(rtype) if isinstance(rtype, str) else None
            if handler is None:
                continue
            relevant, read = handler
            if rtype == "DiagnosticReport":
                self.jcv.note_report(resource)  # a lab report groups the results of one test
            ill_typed_before = reading.ill_typed
            if not relevant(self, resource):
                if reading.ill_typed != ill_typed_before:
                    # A code that is not text might have been one the rules use: say so.
                    self.skip_ill_typed(resource, str(rtype), seen)
                continue
            if is_excluded(resource):
                continue
            identity = _identity(resource)
            if identity in seen:
                continue
            seen.add(identity)
            self.read_once(resource, str(rtype), identity, read)

    def read_once(self, resource: JSON, rtype: str, identity: bytes, read: _Reader) -> None:
        """Validate and read a relevant resource, or replay what reading it gave last time.

        Only what reading adds to the record's lists is remembered (:mod:`.memo`), so the
        replay is exact; a read that depends on more than the resource is not remembered.
        """
        digest = content_digest(identity)
        key = self._memo_key(resource, rtype, digest)
        if key is not None:
            facts = FACTS_MEMO.get(key, self.knowledge)
            if facts is not None:
                lists = self.fact_lists
                for position, items in facts.additions:
                    lists[position].extend(items)
                return
        if not self.accept(resource, digest):
            return
        if key is None:
            read(self, resource)
            return
        reading = self.reading
        ill_typed = reading.ill_typed
        before = [len(items) for items in self.fact_lists]
        read(self, resource)
        if reading.ill_typed != ill_typed or reading.text_exhausted:
            return  # what was read depends on this call's budget, or a part was unreadable
        additions = tuple(
            (position, tuple(items[length:]))
            for position, (items, length) in enumerate(zip(self.fact_lists, before, strict=True))
            if len(items) > length
        )
        FACTS_MEMO.put(key, Facts(additions), self.knowledge)

    def _memo_key(self, resource: JSON, rtype: str, digest: bytes) -> bytes | None:
        if not FACTS_MEMO.enabled or rtype not in REMEMBERED_TYPES:
            return None
        if rtype not in MEDICATION_TYPES:
            return digest
        if resource.get("medicationCodeableConcept") is None:
            return None  # the drug may come from a Medication elsewhere in the call
        return digest + (b"D" if self.is_draft(resource) else b"-")

    def skip_ill_typed(self, resource: JSON, rtype: str, seen: set[bytes]) -> None:
        identity = _identity(resource)
        if identity in seen:
            return
        seen.add(identity)
        self.skip(rtype, "a coding that is not text")

    def member(self, valuesets: str | tuple[str, ...], concept: Any) -> bool:
        """Whether ``concept`` is in the value set (or any of the sets), memoised by content.

        A relevant resource's code is tested against a dozen sets, and a long record repeats
        the same few codes: the key of the concept last asked about is kept for the next test.
        The one relevance test every resource gets matches directly: keying costs more than
        a single match.
        """
        if concept is not self._keyed:
            self._keyed, self._key = concept, concept_key(concept)
        return self.tm.member(valuesets, concept, self._key)

    def is_draft(self, resource: JSON) -> bool:
        key = _draft_key(resource)
        if key is not None:
            return key in self.draft_keys
        return _identity(resource) in self.draft_identities

    def label(self, concept: Any, valueset: str | None = None) -> str:
        """The record's own name, else the knowledge data's display of its code, else the code,
        else the title of the value set it matched (all data: ``cards`` adds the words)."""
        name = concept_name(concept) or self.tm.display_of(concept) or concept_label(concept)
        if not name and valueset is not None:
            return self.tm[valueset].title
        return name

    def evidence(
        self, resource: JSON, when: date | None, concept: Any, valueset: str | None = None
    ) -> Evidence:
        return Evidence(reference_of(resource), when, self.label(concept, valueset))

    # -- Patient -----------------------------------------------------------------------------

    def finish_patient(self) -> None:
        if self.patient_id:
            self.record.patient_reference = f"Patient/{self.patient_id}"
        if not self.patients:
            return
        chosen = next(
            (p for p in self.patients if p.get("id") == self.patient_id), self.patients[0]
        )
        self.record.patient_reference = reference_of(chosen)
        birth = chosen.get("birthDate")
        # A partial birth date resolves to its latest day: erring towards "may be a minor".
        self.record.birth_date = parse_fhir_date(birth, latest=True)
        self.record.birth_date_precision = date_precision(birth)

    # -- Condition ---------------------------------------------------------------------------

    def _condition_relevant(self, resource: JSON) -> bool:
        return self.condition_union.match_concept(resource.get("code"))

    def _matched(self, valuesets: tuple[str, ...], concept: Any) -> frozenset[str]:
        if concept is not self._keyed:
            self._keyed, self._key = concept, concept_key(concept)
        return self.tm.members(valuesets, concept, self._key)

    def _condition_fact(self, resource: JSON, code: Any) -> None:
        """A Condition some topic reads, with its status and dates, whatever they are."""
        matched = self._matched(self.reads.conditions, code)
        if not matched:
            return
        onset = first_date(resource, "onsetDateTime", "onsetPeriod")
        recorded = parse_fhir_date(resource.get("recordedDate"))
        abated, abatement = _abatement(resource)
        evidence = self.evidence(resource, onset or recorded, code, min(matched))
        self.record.conditions.append(
            ConditionFact(
                evidence, matched, clinical_status(resource), onset, recorded, abated, abatement
            )
        )

    def _condition(self, resource: JSON) -> None:
        code = resource.get("code")
        self._condition_fact(resource, code)
        recorded = first_date(resource, "recordedDate", "onsetDateTime", "onsetPeriod")
        if self.member("pml-history", code):  # any clinicalStatus
            target = (
                self.record.pml_suspected if is_suspected(resource) else self.record.pml_history
            )
            target.append(self.evidence(resource, recorded, code))
        if self.member("ms-relapse", code):
            onset = first_date(resource, "onsetDateTime", "onsetPeriod", "recordedDate")
            self.record.relapses.append(self.evidence(resource, onset, code))
            return
        if clinical_status(resource) == "resolved":
            return
        phenotype = self._phenotype(code)
        if phenotype is not None:
            self.record.phenotypes.append(
                PhenotypeEvidence(
                    phenotype,
                    self.evidence(resource, recorded, code),
                    coded_active=bool(self.tm["ms-active-codes"].matching_codes(code)),
                    coded_non_active=bool(self.tm["spms-non-active-codes"].matching_codes(code)),
                )
            )
        if self.member("crohns-disease", code):
            self.record.crohns.append(self.evidence(resource, recorded, code))
        if self.member("immunocompromising-conditions", code):
            self.record.immunocompromising.append(self.evidence(resource, recorded, code))

    def _phenotype(self, code: Any) -> Phenotype | None:
        for phenotype, valueset in PHENOTYPE_SETS:
            if self.member(valueset, code):
                return phenotype
        if self.member("ms-phenotype-unspecified", code):
            return Phenotype.UNSPECIFIED
        return None

    # -- Observation and exams ---------------------------------------------------------------

    def _observation_relevant(self, resource: JSON) -> bool:
        return self.observation_union.match_concept(resource.get("code"))

    def _observation_fact(self, resource: JSON, when: date | None, code: Any) -> None:
        """A result some topic reads: value, unit, upper limit, value sets, flags; unjudged."""
        matched = self._matched(self.reads.observations, code)
        if not matched or resource.get("status") not in RESULT_STATUSES:
            return
        value, comparator, unit_code, unit = quantity(resource)
        concept = value_concept(resource)
        flags = frozenset(
            flag
            for interpretation in concepts(resource.get("interpretation"))
            for flag in self._matched(self.reads.interpretations, interpretation)
        )
        evidence = Evidence(
            reference_of(resource),
            when,
            self.label(code, min(matched)),
            value=value,
            unit=unit or unit_code,
        )
        self.record.observations.append(
            ObservationFact(
                evidence,
                matched,
                comparator,
                unit_code,
                unit,
                upper_limit(resource),
                self._matched(self.reads.observation_values, concept) if concept else frozenset(),
                flags,
            )
        )

    def _observation(self, resource: JSON) -> None:
        if text_of(resource.get("status")) == "cancelled":
            return
        code = resource.get("code")
        when = first_date(
            resource, "effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued"
        )
        self._observation_fact(resource, when, code)
        if self.member("ms-relapse", code):
            self.record.relapses.append(self.evidence(resource, when, code))
        if self.member("mri-activity", code):
            # Any lesion count, even 0, documents that a brain MRI was done on that date.
            self.record.mri_exams.append(self.evidence(resource, when, code))
            self._lesion_count(resource, when, code)
        elif self.member("brain-mri", code):
            self.record.mri_exams.append(self.evidence(resource, when, code))
        status = text_of(resource.get("status"))
        final = status in JCV_FINAL
        if self.member("jcv-dna", code):
            # A preliminary "detected" is already a sign suggestive of PML: do not wait.
            reported = final or status == "preliminary"
            if reported and jcv_dna_detected(resource, self.tm):
                self.record.jcv_dna_positive.append(self.evidence(resource, when, code))
        elif self.member("anti-jcv-antibody", code) and final:
            self.jcv.add(resource, self.evidence(resource, when, code))

    def _lesion_count(self, resource: JSON, when: date | None, code: Any) -> None:
        count = number(resource.get("valueInteger"))
        quantity = resource.get("valueQuantity")
        if count is None and isinstance(quantity, dict):
            count = number(quantity.get("value"))
        kinds = {LESION_KINDS[c] for _, c in self.tm["mri-activity"].matching_codes(code)}
        if count is None or count < 0 or len(kinds) != 1:
            return  # no count, or a coding that claims both kinds: not a usable assessment
        evidence = Evidence(reference_of(resource), when, self.label(code), value=count)
        self.record.mri_lesion_counts.append(MriLesionCount(evidence, kinds.pop(), count))

    def _exam_relevant(self, resource: JSON) -> bool:
        return self.tm["brain-mri"].match_concept(resource.get("code"))

    def _procedure_relevant(self, resource: JSON) -> bool:
        code = resource.get("code")
        return self._exam_relevant(resource) or (
            bool(self.reads.procedures)
            and self.tm.any_of(self.reads.procedures).match_concept(code)
        )

    def _procedure(self, resource: JSON) -> None:
        if self._exam_relevant(resource):
            self._exam(resource)
        code = resource.get("code")
        matched = self._matched(self.reads.procedures, code)
        if matched and resource.get("status") not in NOT_DONE:
            when = first_date(resource, "performedDateTime", "performedPeriod")
            self.record.procedures.append(
                ProcedureFact(self.evidence(resource, when, code, min(matched)), matched)
            )

    def _imaging_relevant(self, resource: JSON) -> bool:
        description = resource.get("description")
        return any(
            self.tm["brain-mri"].match_concept(concept)
            for concept in [*concepts(resource.get("procedureCode")), {"text": description}]
        )

    def _exam(self, resource: JSON) -> None:
        if text_of(resource.get("status")) in NOT_DONE:
            return
        when = first_date(
            resource,
            "effectiveDateTime",
            "effectivePeriod",
            "performedDateTime",
            "performedPeriod",
            "started",
            "issued",
        )
        concept = resource.get("code") or next(iter(concepts(resource.get("procedureCode"))), None)
        if concept is None:
            concept = {"text": resource.get("description")}
        self.record.mri_exams.append(self.evidence(resource, when, concept, "brain-mri"))

    # -- Allergies ---------------------------------------------------------------------------

    def _allergy_relevant(self, resource: JSON) -> bool:
        return self.tm["natalizumab"].match_concept(resource.get("code"))

    def _allergy(self, resource: JSON) -> None:
        status = codes_of(resource.get("clinicalStatus"))
        if status and "active" not in status:
            return
        when = first_date(resource, "recordedDate", "onsetDateTime", "onsetPeriod")
        self.record.hypersensitivity.append(self.evidence(resource, when, resource.get("code")))

    # -- Medications -------------------------------------------------------------------------

    def _medication_relevant(self, resource: JSON) -> bool:
        concept = self.medications.concept(resource)
        return concept is not None and self.medication_union.match_concept(concept)

    def _medication(self, resource: JSON) -> None:
        concept = self.medications.concept(resource)
        rtype = resource.get("resourceType")
        status = text_of(resource.get("status"))
        draft = self.is_draft(resource)
        if self.member("natalizumab", concept):
            given = None if draft else read_use(resource, self.label(concept, "natalizumab"))
            if given is not None:
                self.record.natalizumab.append(given)
            return
        when = first_date(
            resource,
            "authoredOn",
            "effectiveDateTime",
            "effectivePeriod",
            "dateAsserted",
        )
        use = MedicationUse(self.evidence(resource, when, concept), self.label(concept))
        if self.member("prior-immunosuppressants", concept) and status not in NOT_DONE:
            self.record.prior_immunosuppressants.append(use)
        if self.member("concomitant-immunotherapy", concept) and (
            draft or (rtype != "MedicationAdministration" and status == "active")
        ):
            self.record.concomitant_immunotherapy.append(use)

    # -- Orders ------------------------------------------------------------------------------

    def natalizumab_orders(
        self, trigger_orders: Sequence[Any], known: Sequence[JSON] | None = None
    ) -> list[NatalizumabOrder]:
        """The trigger's natalizumab orders (``known``, else judged here the same way).

        Never validated away (contract section 1): each is read leniently in any FHIR
        version's shape, and the fields that could not be read are named in the notes.
        """
        pooled = self.medications.by_reference  # pooled_medications([self.pooled]), found once
        if known is None:
            known = scan_orders(trigger_orders, pooled).orders
        orders: list[NatalizumabOrder] = []
        for order in known:
            reading = read_order(order)
            if reading.unread:
                self.unread_order_parts[reference_of(order)] = reading.unread
            self.trigger_objects.add(id(order))
            orders.append(NatalizumabOrder(reference_of(order), product_name(order, pooled)))
        return orders


#: What reads a resource: is it relevant (``feed``), and the reading (``read_once``).
_Relevance = Callable[[_Builder, JSON], bool]
_Reader = Callable[[_Builder, JSON], None]


def _any_patient(builder: _Builder, resource: JSON) -> bool:
    return True


def _keep_patient(builder: _Builder, resource: JSON) -> None:
    builder.patients.append(resource)


#: Per resource type, as plain functions of the builder rather than bound methods a builder
#: holds: a builder that referred to itself would be a reference cycle, so the call's
#: resources (which it references) would stay in memory after the call until the collector
#: found the cycle, and the next call would parse into fresh memory (bench/README.md).
_HANDLERS: Final[dict[str, tuple[_Relevance, _Reader]]] = {
    "Patient": (_any_patient, _keep_patient),
    "Condition": (_Builder._condition_relevant, _Builder._condition),
    "Observation": (_Builder._observation_relevant, _Builder._observation),
    "DiagnosticReport": (_Builder._exam_relevant, _Builder._exam),
    "Procedure": (_Builder._procedure_relevant, _Builder._procedure),
    "ImagingStudy": (_Builder._imaging_relevant, _Builder._exam),
    "AllergyIntolerance": (_Builder._allergy_relevant, _Builder._allergy),
    "MedicationRequest": (_Builder._medication_relevant, _Builder._medication),
    "MedicationStatement": (_Builder._medication_relevant, _Builder._medication),
    "MedicationAdministration": (_Builder._medication_relevant, _Builder._medication),
}


def _abatement(resource: JSON) -> tuple[bool, date | None]:
    """Whether the Condition records an end (``abatement[x]`` of any type) and its date."""
    keys = [key for key in resource if key.startswith("abatement")]
    if not keys or (resource.get("abatementBoolean") is False and len(keys) == 1):
        return False, None
    when = parse_fhir_date(resource.get("abatementDateTime"))
    period = resource.get("abatementPeriod")
    if when is None and isinstance(period, dict):
        when = parse_fhir_date(period.get("end")) or parse_fhir_date(period.get("start"))
    return True, when


def _notes(
    skipped: Counter[str],
    unread_order_parts: Mapping[str, tuple[str, ...]],
    text_exhausted: bool,
) -> list[DataNote]:
    """Data notes every card carries: unreadable resources, unreadable parts of the order, and
    free text left unread by the per-call text budget.

    Notes about prefetch keys (unavailable, incomplete) name only the cards whose facts come
    from those keys, so the card renderer derives them from ``record.unavailable``/``incomplete``.
    """
    notes: list[DataNote] = [
        SkippedResources(rtype, count) for rtype, count in sorted(skipped.items())
    ]
    notes += [
        UnreadOrderParts(reference, fields)
        for reference, fields in sorted(unread_order_parts.items())
    ]
    if text_exhausted:
        notes.append(TextNotRead())
    return notes


def build_record(
    *,
    resources: Sequence[Any],
    trigger_orders: Sequence[Any],
    draft_orders: Sequence[Any] = (),
    unavailable: frozenset[str] = frozenset(),
    patient_id: str | None = None,
    now: datetime,
    natalizumab_orders: Sequence[JSON] | None = None,
    incomplete: Mapping[str, str] | None = None,
    prefetch_digest: bytes | None = None,
) -> BuildResult:
    """Index the pooled resources by clinical meaning (contract section 2).

    ``natalizumab_orders`` are the trigger's verdict on the raw JSON (judged here the same way
    when not given); ``incomplete`` names prefetch keys read only in part;
    ``prefetch_digest`` (:class:`cds_service.pipeline.HookData`) names the resources.
    """
    drafts = [order for order in draft_orders if isinstance(order, dict)]
    pooled = [r for r in resources if isinstance(r, dict)]
    kb = knowledge()
    key = (
        record_key(
            resources=resources,
            trigger_orders=trigger_orders,
            draft_orders=draft_orders,
            natalizumab_orders=natalizumab_orders,
            unavailable=unavailable,
            incomplete=incomplete,
            patient_id=patient_id,
            today=now.date(),
            prefetch_digest=prefetch_digest,
        )
        if RECORD_CACHE.enabled
        else None
    )
    if key is not None:
        remembered = RECORD_CACHE.get(key, kb)
        if remembered is not None:
            for rtype, problem in remembered.skipped_problems:
                log_skipped(rtype, problem)
            return remembered.result
    with call_reading(MAX_TEXT_CHARS_PER_CALL) as reading:
        builder = _Builder([*pooled, *drafts], drafts, patient_id, reading)
        orders = builder.natalizumab_orders(trigger_orders, natalizumab_orders)
        if not orders:
            return BuildResult(PatientRecord(), [], [], [])
        builder.feed([*resources, *drafts])
        builder.finish_patient()
    record = builder.record
    record.jcv_results = builder.jcv.results()
    thresholds = builder.thresholds
    record.exposure = exposure(record.natalizumab, now.date(), thresholds)
    record.therapy = therapy(record.natalizumab, now.date(), thresholds)
    record.unavailable = unavailable
    record.incomplete = dict(incomplete or {})
    skipped = builder.skipped
    result = BuildResult(
        record=record,
        orders=orders,
        notes=_notes(skipped, builder.unread_order_parts, reading.text_exhausted),
        skipped=sorted(skipped.elements()),
    )
    if key is not None and not reading.text_exhausted and builder.knowledge is kb:
        RECORD_CACHE.put(key, RememberedRecord(result, tuple(builder.skipped_problems)), kb)
    return result
