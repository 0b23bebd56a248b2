#!/bin/sh
# Prepares /tmp/vr for reports-doctor.txt: a demo data dir whose doctor's inbox holds a
# CSV, a text file named .pdf and a symbolic link to /etc/passwd.
set -e
rm -rf /tmp/vr && mkdir -p /tmp/vr
meditrack --data-dir /tmp/vr/data seed >/dev/null
box=/tmp/vr/data/inbox/demo.doctor
mkdir -p -m 700 /tmp/vr/data/inbox "$box"
printf 'date,systolic,diastolic\n2026-03-01,128,82\n2026-03-02,131,84\n' > "$box/home_bp_log.csv"
printf 'This is only text pretending to be a PDF.\n' > "$box/fake.pdf"
ln -s /etc/passwd "$box/passwd.txt"
