"""The embedded store's clinical records: appointments (with their text search keys in a
side table), prescriptions, vitals, and reports (report files in chunks)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, ClassVar

from ..base import Corrupt, Doc, Found, new_id, prefix_end
from ..queries import APPOINTMENT_SORTS, AppointmentQuery
from ..repos import AppointmentRepo, PrescriptionRepo, ReportRepo, VitalsRepo
from ..rows import AppointmentRow, PrescriptionRow, ReadingRow, ReportRow
from .engine import column, encode, iso
from .records import (
    Extract,
    JsonRecords,
    Paged,
    equal_clauses,
    field,
    in_clause,
    order,
    where,
    window,
)

CHUNK_SIZE = 255 * 1024


def _day(doc: Doc) -> Any:
    day = doc.get("day")
    if day is None and isinstance(doc.get("start"), datetime):
        return doc["start"].date().isoformat()
    return column(day)


def text_keys(doc: Doc) -> set[str]:
    """What AppointmentQuery.text matches by prefix: every word-start of the patient's
    name and of the reason (each to its end), and the MRN, lower-cased."""
    keys: set[str] = set()
    for name in ("patient_name", "reason"):
        value = doc.get(name)
        if isinstance(value, str):
            words = value.lower().split()
            keys.update(" ".join(words[i:]) for i in range(len(words)))
    mrn = doc.get("mrn")
    if isinstance(mrn, str) and mrn:
        keys.add(mrn.lower())
    return keys


class SqliteAppointments(Paged[AppointmentRow], AppointmentRepo):
    table = "appointments"
    columns: ClassVar[dict[str, Extract]] = {
        "patient_id": field("patient_id"), "doctor_id": field("doctor_id"), "day": _day}
    columns |= {name: field(name) for name in (
        "start", "status", "patient_name", "doctor_name", "reason", "mrn")}

    side_table = "appointment_keys"
    side_key = "appointment_id"
    side_insert = "INSERT INTO appointment_keys (key, appointment_id) VALUES (?, ?)"

    def _side_rows(self, record_id: str, doc: Doc) -> list[tuple[Any, ...]]:
        return [(k, record_id) for k in sorted(text_keys(doc))]

    def find(self, query: AppointmentQuery) -> Found[AppointmentRow]:
        if query.sort not in APPOINTMENT_SORTS:
            raise ValueError(f"unknown appointment sort {query.sort!r}")
        clauses, params = equal_clauses(query, ("patient_id", "doctor_id", "day"))
        if query.days is not None:
            clauses.append(in_clause("day", query.days))
            params += query.days
        if query.statuses is not None:
            clauses.append(in_clause("status", query.statuses))
            params += query.statuses
        window("start", query.start_from, query.start_before, clauses, params)
        if query.text:
            text = query.text.lower()
            clauses.append("id IN (SELECT appointment_id FROM appointment_keys "
                           "WHERE key >= ? AND key < ?)")
            params += [text, prefix_end(text)]
        cols = ("start", "id") if query.sort == "start" else (query.sort, "start", "id")
        return self._page(clauses, params, order(cols, query.descending), query.skip,
                          query.limit, query.count)

    def count_day(self, day: str) -> int:
        return int(self.db.one("SELECT count(*) FROM appointments WHERE day = ?", (day,)))


class SqlitePrescriptions(JsonRecords[PrescriptionRow], PrescriptionRepo):
    table = "prescriptions"
    columns: ClassVar[dict[str, Extract]] = {
        name: field(name) for name in ("patient_id", "status", "start_date")}

    def for_patient(self, patient_id: str, *, status: str | None = None
                    ) -> list[PrescriptionRow]:
        if status is None:
            return self._docs("SELECT doc FROM prescriptions WHERE patient_id = ? "
                              "ORDER BY start_date DESC, id DESC", (patient_id,))
        return self._docs("SELECT doc FROM prescriptions WHERE patient_id = ? AND status = ? "
                          "ORDER BY start_date DESC, id DESC", (patient_id, status))


class SqliteVitals(JsonRecords[ReadingRow], VitalsRepo):
    table = "vitals"
    columns: ClassVar[dict[str, Extract]] = {
        name: field(name) for name in ("patient_id", "taken_at")}

    def series(self, patient_id: str, since: datetime | None = None,
               until: datetime | None = None) -> list[ReadingRow]:
        clauses, params = ["patient_id = ?"], [patient_id]
        if since is not None:
            clauses.append("taken_at >= ?")
            params.append(iso(since))
        if until is not None:
            clauses.append("taken_at <= ?")
            params.append(iso(until))
        return self._docs(f"SELECT doc FROM vitals{where(clauses)} ORDER BY taken_at, id",
                          params)

    def latest(self, patient_id: str, count: int) -> list[ReadingRow]:
        return self._docs("SELECT doc FROM vitals WHERE patient_id = ? "
                          "ORDER BY taken_at DESC, id DESC LIMIT ?", (patient_id, count))


class SqliteReports(JsonRecords[ReportRow], ReportRepo):
    table = "reports"
    columns: ClassVar[dict[str, Extract]] = {
        name: field(name) for name in ("patient_id", "kind", "uploaded_at")}

    def for_patient(self, patient_id: str, *, kind: str | None = None, limit: int = 500,
                    deleted: bool | None = False) -> list[ReportRow]:
        # the patient's index narrows to a few rows; the deleted mark is read from the doc
        sql, params = "SELECT doc FROM reports WHERE patient_id = ?", [patient_id]
        if kind is not None:
            sql, params = sql + " AND kind = ?", params + [kind]
        if deleted is not None:
            sql += (" AND json_extract(doc, '$.deleted_at') IS "
                    + ("NOT NULL" if deleted else "NULL"))
        return self._docs(sql + " ORDER BY uploaded_at DESC, id DESC LIMIT ?",
                          (*params, limit))

    def put_file(self, filename: str, data: bytes, metadata: Doc) -> str:
        file_id = new_id()
        with self.db.transaction():
            self.db.execute("INSERT INTO report_files (file_id, filename, length, sha256, "
                            "metadata) VALUES (?, ?, ?, ?, ?)",
                            (file_id, filename, len(data), hashlib.sha256(data).hexdigest(),
                             encode(metadata)))
            self.db.executemany(
                "INSERT INTO report_chunks (file_id, n, data) VALUES (?, ?, ?)",
                ((file_id, n, data[at:at + CHUNK_SIZE])
                 for n, at in enumerate(range(0, len(data), CHUNK_SIZE))))
        return file_id

    def read_file(self, file_id: str) -> bytes:
        row = self.db.execute("SELECT length, sha256 FROM report_files WHERE file_id = ?",
                              (file_id,)).fetchone()
        if row is None:
            raise Corrupt(f"stored file {file_id} is missing")
        data = b"".join(r[0] for r in self.db.execute(
            "SELECT data FROM report_chunks WHERE file_id = ? ORDER BY n", (file_id,)))
        if len(data) != row[0] or hashlib.sha256(data).hexdigest() != row[1]:
            raise Corrupt(f"stored file {file_id} no longer matches its checksum")
        return data

    def delete_file(self, file_id: str) -> None:
        with self.db.transaction():
            self.db.execute("DELETE FROM report_chunks WHERE file_id = ?", (file_id,))
            self.db.execute("DELETE FROM report_files WHERE file_id = ?", (file_id,))
