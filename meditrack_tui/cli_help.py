"""The closing text of ``meditrack --help`` (imported only when the help is shown)."""

from __future__ import annotations

import os

from .config import (
    ENV_DATA_DIR,
    ENV_DB_NAME,
    ENV_IDLE_LOCK,
    ENV_LOCKOUT,
    ENV_MAX_UPLOAD,
    ENV_MONGO_URI,
    ENV_MRN_SYSTEM,
    ENV_SCAN_DIRS,
    ENV_SECRET,
    ENV_SESSION_HOURS,
    default_data_dir,
)


def epilog() -> str:
    """The help's closing text (built when asked for: finding the platform's default data
    directory imports platformdirs, which starting the app does not otherwise need)."""
    return f"""\
configuration (environment variables; options above win where both exist):
  {ENV_MONGO_URI}      use a real MongoDB (any URI pymongo accepts, e.g.
                           mongodb://host:27017 or mongodb+srv://...). Without it the
                           embedded store in the data directory is used.
  {ENV_DATA_DIR}       data directory of the embedded store and the secret file
                           (default: {default_data_dir()})
  {ENV_DB_NAME}        database name (default: meditrack)
  {ENV_SECRET}         session signing secret; without it a random secret is kept in
                           <data dir>/secret.key, readable only by its owner
  {ENV_IDLE_LOCK} minutes of inactivity before the terminal locks (default 10)
  {ENV_MAX_UPLOAD}     largest report upload in MB (default 10)
  {ENV_LOCKOUT}   minutes an account stays locked after 5 failed logins (default 15)
  {ENV_SESSION_HOURS}     hours a login stays valid before signing in again (default 12)
  {ENV_SCAN_DIRS}      folders (separated by "{os.pathsep}") doctors may upload scans from,
                           besides each user's own inbox, <data dir>/inbox/<username>
  {ENV_MRN_SYSTEM} the identifier system (a URI) of the clinic's MRNs in FHIR
                           exports (default urn:meditrack:mrn)

files: uploads come only from the user's inbox folder (or a scan folder for doctors);
  saved copies go to <data dir>/outbox/<username> as new files. The data directory must be
  private to the account running MediTrack (chmod 700); it is refused when it is not.

examples:
  meditrack --demo                 start on a demo clinic (logins: demo.admin,
                                   demo.doctor, demo.patient; password meditrack-demo)
  meditrack seed --patients 10000  add synthetic patients for scale work
  meditrack create-admin           create the first administrator from the shell
  meditrack audit verify           check that no audit entry was edited, removed or
                                   inserted behind the app's back (exit 0: intact,
                                   1: not intact, 2: could not check)
  meditrack backup FILE            a backup of the live store (records, audit trail,
                                   report files; not secret.key: keep that apart)
  meditrack backup --verify FILE   check a backup without restoring it
  meditrack restore FILE --data-dir DIR
                                   restore into an empty store and verify it
  meditrack doctor                 what needs fixing before going live
  meditrack export fhir --patient MRN-000001 FILE
                                   one patient's record as a FHIR R4 Bundle
  meditrack import fhir --dry-run DIR
                                   what importing FHIR Bundles or NDJSON would change
  meditrack serve                  the app in a browser at http://127.0.0.1:8000 (put a
                                   TLS reverse proxy in front: docs/deploy.md)
"""
