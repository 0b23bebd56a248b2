"""Validation of exported resources with ``fhir.resources``' FHIR R4 (4.0.1) models.

fhir.resources 6.x is the release line whose models are R4 4.0.1 (7.x and 8.x default to
R5 and carry R4B 4.3.0 as a subpackage, not R4); the test extra pins 6.4.0.
"""

from __future__ import annotations

from typing import Any

import fhir.resources
from fhir.resources import construct_fhir_element

assert fhir.resources.__fhir_version__ == "4.0.1", fhir.resources.__fhir_version__


def validate(resource: dict[str, Any]) -> Any:
    """The resource parsed by its R4 model (raises pydantic's ValidationError)."""
    return construct_fhir_element(resource["resourceType"], resource)


def validate_bundle(bundle: dict[str, Any]) -> int:
    """The Bundle and each of its resources validated; how many resources."""
    validate(bundle)
    for entry in bundle["entry"]:
        validate(entry["resource"])
    return len(bundle["entry"])
