"""FHIR JSON -> PatientRecord: lenient parsing and value-set membership."""
