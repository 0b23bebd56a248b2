"""Bulk export in the FHIR Bulk Data layout: one NDJSON file per resource type
(``Patient.ndjson``, ``Observation.ndjson``, ...) in a new folder, report files in its
``files`` folder beside them.

:class:`BulkWriter` takes one patient's record at a time and writes it out at once, so
what it holds is one record plus the set of doctors already written (each Practitioner
is written once). References name resources the way bulk files do, ``Patient/<id>`` and
``Practitioner/<id>`` (a Bundle's ``urn:uuid:`` full URLs mean nothing across files).
Every file is created new with mode 0600; the folder and ``files`` 0700.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote

from ..errors import ValidationError
from .export import PatientData, Resource, full_url, patient_resources, practitioner_resource
from .export import resource_id as record_resource_id


def prepare_folder(folder: Path) -> None:
    """Create ``folder`` (0700) for a bulk export; an existing one must be empty."""
    if folder.is_symlink():
        raise ValidationError(f"{folder} is a link; give a new folder.")
    if folder.exists():
        if not folder.is_dir():
            raise ValidationError(f"{folder} is a file; give a new folder.")
        if any(folder.iterdir()):
            raise ValidationError(f"The folder {folder} is not empty; a bulk "
                                  "export goes into a new (or empty) folder.")
        return
    if not folder.parent.is_dir():
        raise ValidationError(f"The folder {folder.parent} does not exist.")
    folder.mkdir(mode=0o700)


def _open_new(path: Path) -> IO[str]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8")


def _relink(value: Any, targets: dict[str, str]) -> Any:
    """``value`` with every ``reference`` that is a known full URL made relative."""
    if isinstance(value, dict):
        out = {k: _relink(v, targets) for k, v in value.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and ref in targets:
            out["reference"] = targets[ref]
        return out
    if isinstance(value, list):
        return [_relink(v, targets) for v in value]
    return value


class BulkWriter:
    """Writes patients' records into a bulk export folder (see the module docstring)."""

    def __init__(self, folder: Path, mrn_system: str) -> None:
        prepare_folder(folder)
        self.folder = folder
        self.mrn_system = mrn_system
        self.counts: dict[str, int] = {}
        self._files: dict[str, IO[str]] = {}
        self._doctors: set[str] = set()
        self._reports: Path | None = None

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _write(self, resource: Resource, targets: dict[str, str]) -> None:
        kind = resource["resourceType"]
        handle = self._files.get(kind)
        if handle is None:
            handle = self._files[kind] = _open_new(self.folder / f"{kind}.ndjson")
        handle.write(json.dumps(_relink(resource, targets), ensure_ascii=False,
                                separators=(",", ":")) + "\n")
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def _report_folder(self) -> Path:
        if self._reports is None:
            self._reports = self.folder / "files"
            self._reports.mkdir(mode=0o700)
        return self._reports

    def add(self, data: PatientData) -> None:
        """Write one patient's resources (and doctors not written yet); report files go
        into ``files`` and are referred to by their path."""
        from ..files import write_new

        for report in data.reports:
            if report.data is not None:
                written = write_new(self._report_folder(),
                                    f"{report.row['id']}-{report.row['filename']}", report.data)
                # an R4 url needs a scheme (and validators a host): file://localhost/...
                report.url = "file://localhost" + quote(str(written.resolve()))
        pid = data.patient["id"]
        targets = {full_url("Patient", pid): "Patient/" + record_resource_id("Patient", pid)}
        for uid in data.doctors:
            targets[full_url("Practitioner", uid)] = (
                "Practitioner/" + record_resource_id("Practitioner", uid))
        for resource in patient_resources(data, self.mrn_system):
            self._write(resource, targets)
        for uid, (name, username, active) in sorted(data.doctors.items()):
            if uid not in self._doctors:
                self._doctors.add(uid)
                doctor = practitioner_resource(uid, name, username, self.mrn_system, active)
                self._write(doctor, targets)

    def close(self) -> None:
        for handle in self._files.values():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        self._files.clear()
