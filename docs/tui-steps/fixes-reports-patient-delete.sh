#!/bin/sh
# Prepares a demo data dir for fixes-reports-patient-delete.txt: a text note waiting in
# demo.patient's inbox. Usage: fixes-reports-patient-delete.sh DATA_DIR
set -e
box=$1/inbox/demo.patient
mkdir -p -m 700 "$1/inbox" "$box"
printf 'Headaches in the morning since Monday, worse after coffee.\n' > "$box/symptoms.txt"
