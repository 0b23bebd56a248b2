#!/bin/sh
# Prepares a demo data dir for fhir-import-admin.txt: demo.admin's inbox holds a Bundle of
# two new patients (one Observation without a patient), a text file (not offered) and a
# link to a file outside the inbox (listed as not readable). Usage: fhir-import-admin.sh DATA_DIR
set -e
box=$1/inbox/demo.admin
mkdir -p -m 700 "$1/inbox" "$box"
python3 - "$box" <<'PY'
import json, os, sys
from tests.fhir_synthea import patient_bundle
box = sys.argv[1]
entries = patient_bundle(7)["entry"] + patient_bundle(8)["entry"]
entries.append({"resource": {"resourceType": "Observation", "status": "final",
                             "code": {"text": "glucose"},
                             "subject": {"reference": "Patient/nobody"}}})
with open(os.path.join(box, "clinic-b.json"), "w") as f:
    json.dump({"resourceType": "Bundle", "type": "collection", "entry": entries}, f)
with open(os.path.join(box, "notes.txt"), "w") as f:
    f.write("not FHIR\n")
os.symlink("/etc/hostname", os.path.join(box, "elsewhere.json"))
PY
