"""The MongoDB store's clinical records: appointments, prescriptions, vitals, reports
(report files in GridFS).

An appointment's ``patient_words`` and ``reason_words`` (see ``name_words``) are stored
beside it for the text search and never returned.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from ..base import Corrupt, Doc, Found
from ..queries import APPOINTMENT_SORTS, AppointmentQuery
from ..repos import AppointmentRepo, PrescriptionRepo, ReportRepo, VitalsRepo
from ..rows import AppointmentRow, PrescriptionRow, ReadingRow, ReportRow
from .records import RecordRepo, clean, prefix, sort_spec, window


def name_words(name: Any) -> list[str] | None:
    """Every run of a name's lower-case words to its end ("grace ann lee": "grace ann lee",
    "ann lee", "lee"): a prefix of one is text starting at the start of a word."""
    if not isinstance(name, str):
        return None
    words = name.lower().split()
    return [" ".join(words[at:]) for at in range(len(words))]


class Appointments(RecordRepo[AppointmentRow], AppointmentRepo):
    internal = ("patient_words", "reason_words")

    def derived(self, fields: Doc) -> Doc:
        extra: Doc = {}
        if "patient_name" in fields:
            extra["patient_words"] = name_words(fields["patient_name"])
        if "reason" in fields:
            extra["reason_words"] = name_words(fields["reason"])
        return extra

    def find(self, query: AppointmentQuery) -> Found[AppointmentRow]:
        filt: Doc = {}
        if query.patient_id is not None:
            filt["patient_id"] = query.patient_id
        if query.doctor_id is not None:
            filt["doctor_id"] = query.doctor_id
        if query.day is not None and query.days is not None:
            filt["$and"] = [{"day": query.day}, {"day": {"$in": list(query.days)}}]
        elif query.day is not None:
            filt["day"] = query.day
        elif query.days is not None:
            filt["day"] = {"$in": list(query.days)}
        if query.statuses is not None:
            filt["status"] = {"$in": list(query.statuses)}
        window(filt, "start", query.start_from, query.start_before)
        if query.text:
            text = query.text.lower()
            filt["$or"] = [{"patient_words": prefix(text)},
                           {"mrn": {"$regex": "^" + re.escape(query.text), "$options": "i"}},
                           {"reason_words": prefix(text)}]
        if query.sort not in APPOINTMENT_SORTS:
            raise ValueError(f"unknown appointment sort {query.sort!r}")
        return self.query(filt, sort_spec((query.sort, "start"),
                                          -1 if query.descending else 1),
                          query.skip, query.limit, query.count)

    def count_day(self, day: str) -> int:
        return self.count_matching({"day": day})


class Prescriptions(RecordRepo[PrescriptionRow], PrescriptionRepo):
    def for_patient(self, patient_id: str, *, status: str | None = None
                    ) -> list[PrescriptionRow]:
        filt: Doc = {"patient_id": patient_id}
        if status is not None:
            filt["status"] = status
        return self.rows(filt, sort_spec(("start_date",), -1))


class Vitals(RecordRepo[ReadingRow], VitalsRepo):
    def series(self, patient_id: str, since: datetime | None = None,
               until: datetime | None = None) -> list[ReadingRow]:
        filt: Doc = {"patient_id": patient_id}
        taken: Doc = {}
        if since is not None:
            taken["$gte"] = clean(since)
        if until is not None:
            taken["$lte"] = clean(until)
        if taken:
            filt["taken_at"] = taken
        return self.rows(filt, sort_spec(("taken_at",), 1))

    def latest(self, patient_id: str, count: int) -> list[ReadingRow]:
        if count <= 0:
            return []
        return self.rows({"patient_id": patient_id}, sort_spec(("taken_at",), -1), count)


class Reports(RecordRepo[ReportRow], ReportRepo):
    def for_patient(self, patient_id: str, *, kind: str | None = None, limit: int = 500,
                    deleted: bool | None = False) -> list[ReportRow]:
        filt: Doc = {"patient_id": patient_id}
        if kind is not None:
            filt["kind"] = kind
        if deleted is not None:
            filt["deleted_at"] = {"$ne": None} if deleted else None
        if limit <= 0:
            return []
        return self.rows(filt, sort_spec(("uploaded_at",), -1), limit)

    def put_file(self, filename: str, data: bytes, metadata: Doc) -> str:
        # GridFS takes no part in transactions: stored now, removed if the unit aborts
        meta = clean({**metadata, "sha256": hashlib.sha256(data).hexdigest()})
        bucket = self.store.files_bucket()
        file_id = bucket.upload_from_stream(filename, data, metadata=meta)
        self.store.defer(on_abort=lambda: bucket.delete(file_id))
        return str(file_id)

    def _oid(self, file_id: str) -> Any:
        from bson import ObjectId
        from bson.errors import InvalidId

        try:
            return ObjectId(file_id)
        except (InvalidId, TypeError):
            return None

    def read_file(self, file_id: str) -> bytes:
        from gridfs.errors import CorruptGridFile, NoFile

        oid = self._oid(file_id)
        if oid is None:
            raise Corrupt(f"no stored file has the id {file_id!r}")
        try:
            with self.store.files_bucket().open_download_stream(oid) as grid:
                expected = (grid.metadata or {}).get("sha256")
                data: bytes = grid.read()
        except NoFile as exc:
            raise Corrupt(f"the stored file {file_id} is missing") from exc
        except CorruptGridFile as exc:
            raise Corrupt(f"the stored file {file_id} is damaged: {exc}") from exc
        if expected is None or hashlib.sha256(data).hexdigest() != expected:
            raise Corrupt(f"the stored file {file_id} no longer matches its checksum")
        return data

    def delete_file(self, file_id: str) -> None:
        from gridfs.errors import NoFile

        oid = self._oid(file_id)
        if oid is None:
            return
        bucket = self.store.files_bucket()

        def delete() -> None:
            try:
                bucket.delete(oid)
            except NoFile:
                pass

        if not self.store.defer(on_commit=delete):  # in a unit: once it commits
            delete()
