"""Messages name choices in words, not stored codes (found driving the new-patient form)."""

from __future__ import annotations

from datetime import date

import pytest

from meditrack_tui.errors import ValidationError
from meditrack_tui.services.patient_fields import build_patient_doc
from meditrack_tui.validation import Checker


@pytest.mark.parametrize("sex", [None, "", "Q"])
def test_a_missing_or_unknown_sex_is_explained_in_words(sex):
    check = Checker()
    build_patient_doc(check, {"first_name": "Ada", "last_name": "Lovelace",
                              "dob": "1990-02-01", "sex": sex}, today=date(2026, 3, 4))
    with pytest.raises(ValidationError) as caught:
        check.done()
    message = caught.value.fields["sex"]
    assert message == "Choose one of: Female, Male, Other / not stated."
    assert "F," not in message  # the stored codes F, M, X mean nothing to a clinic worker
