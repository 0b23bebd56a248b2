#!/bin/sh
# Prepares a demo data dir for reports-patient-inbox.txt: demo.patient's inbox holds a text
# note and a hidden file (not listed). Usage: reports-patient-inbox.sh DATA_DIR
set -e
box=$1/inbox/demo.patient
mkdir -p -m 700 "$1/inbox" "$box"
printf 'Headaches in the morning since Monday, worse after coffee.\n' > "$box/symptoms.txt"
