"""Backups: one portable file for both stores, written from a live store, checked
without restoring, and restored into an empty store with every record, file and audit
seal verified.

The file is a zip archive:

- ``manifest.json``: format and version, the store kind and schema version it came from,
  when it was made, how it was made consistent, the audit chain's head record, each
  collection's record count, and the SHA-256, size and line count of every other member;
- ``records/<collection>.jsonl``: one record a line (sorted-key JSON; datetimes as
  ``{"$date": "<ISO, milliseconds>"}``), ids, versions and audit seals as stored;
- ``records/report_files.jsonl``: each report file's details, and ``files/<file id>``
  its bytes.

Not in a backup: login sessions (a restore signs everyone out: a session revoked after
the backup must not come back to life), the change log (notifications for open screens,
pruned by age) and the signing secret (``secret.key``): the audit trail's seals and the
sessions' tokens are keyed with it, so a backup that carried it would let whoever holds
the file forge a trail that verifies. Keep a copy of ``secret.key`` apart from the
backups (it changes never); a restore on another machine needs it copied there.
"""


from .check import Check, check_members, open_backup, read_records, verify_backup, wrong_key_note
from .format import (
    BATCH,
    CONSISTENCY_TRIES,
    FILES_MEMBER,
    FORMAT,
    FORMAT_VERSION,
    LAST_BACKUP,
    MANIFEST,
    BackupDamaged,
    BackupError,
    decode_line,
    encode_line,
    file_member,
    record_member,
)
from .restore import Restored, check_restored, restore_backup
from .write import BackupSummary, last_backup, record_last_backup, write_backup

__all__ = [
    'BATCH', 'BackupDamaged', 'BackupError', 'BackupSummary', 'CONSISTENCY_TRIES', 'Check',
    'FILES_MEMBER', 'FORMAT', 'FORMAT_VERSION', 'LAST_BACKUP', 'MANIFEST', 'Restored',
    'check_members', 'check_restored', 'decode_line', 'encode_line', 'file_member',
    'last_backup', 'open_backup', 'read_records', 'record_last_backup', 'record_member',
    'restore_backup', 'verify_backup', 'write_backup', 'wrong_key_note'
]
