"""Read-only FHIR R4 (4.0.1) views of the clinic's data, served under /fhir/r4 (docs/fhir.md)."""
