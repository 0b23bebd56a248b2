"""FHIR R4 interoperability: MediTrack records as FHIR resources and back.

- :mod:`.codes`: the LOINC codes, UCUM units and code systems used.
- :mod:`.export`: records (as the FHIR service read them) -> resources and Bundles.
- :mod:`.cli`: ``meditrack export fhir`` / ``meditrack import fhir``.

Plain dicts in and out: the runtime needs no FHIR library (the tests validate every
resource with ``fhir.resources``' R4 models).
"""
