#!/bin/sh
# Prepares a demo data dir for reports-doctor.txt: the doctor's inbox holds a CSV, a text
# file named .pdf and a symbolic link to /etc/passwd.
# Usage: reports-doctor.sh DATA_DIR (run-all passes a fresh copy of the demo data dir;
# by hand: meditrack --data-dir /tmp/vr/data seed --demo, then reports-doctor.sh /tmp/vr/data)
set -e
data=${1:-/tmp/vr/data}
box=$data/inbox/demo.doctor
mkdir -p -m 700 "$data/inbox" "$box"
printf 'date,systolic,diastolic\n2026-03-01,128,82\n2026-03-02,131,84\n' > "$box/home_bp_log.csv"
printf 'This is only text pretending to be a PDF.\n' > "$box/fake.pdf"
ln -s /etc/passwd "$box/passwd.txt"
