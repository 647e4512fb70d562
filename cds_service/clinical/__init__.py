"""Pure clinical rules: (PatientRecord, orders, now) -> Findings. No I/O, no FHIR JSON."""
