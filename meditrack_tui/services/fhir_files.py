"""FHIR from inside the app: a patient's Bundle as a file (a new file in the user's outbox,
or the bytes a browser downloads), and an administrator's import from their inbox.

The reading, writing and auditing are :class:`~.fhir.FhirService`'s, as for ``meditrack
export fhir`` and ``meditrack import fhir``; this module adds only where the files come
from and go to. Nobody browses the server's files: an import reads a ``.json`` or
``.ndjson`` file, or a folder of them (a bulk export), directly inside the administrator's
own inbox, by its name; symbolic links, hidden files and names with a path are refused.
"""

from __future__ import annotations

import json
import os
import stat
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import files
from ..errors import ValidationError
from ..fhir.export import bundle
from ..fhir.imports import Doctor, Item, Refusal, Tally, plan, read_source
from .base import Service, Session
from .fhir import FhirService

#: the files an import reads (in a folder too)
FHIR_SUFFIXES = (".json", ".ndjson")


@dataclass(frozen=True)
class FhirExport:
    """One patient's Bundle as a file: its name (``<MRN>-fhir.json``), its bytes and how
    many resources of each type it holds."""

    filename: str
    data: bytes
    counts: dict[str, int]


@dataclass(frozen=True)
class FhirSource:
    """Something in the inbox an import can read: a file, or a folder of FHIR files (a
    bulk export); ``problem`` says why it cannot be imported when it cannot."""

    name: str
    folder: bool
    files: int      # the FHIR files it holds (1 for a file)
    size: int       # their bytes together
    modified: datetime
    problem: str | None = None


class FhirFileService(Service):
    """A FHIR export to a file, and an import from the administrator's inbox."""

    # --- export ---

    def export_file(self, session: Session, mrn: Any) -> FhirExport:
        """One patient's record as a FHIR R4 Bundle (report files embedded), as the CLI
        writes it; policy ``fhir.export`` and audited by :meth:`FhirService.export_patient`."""
        data = FhirService(self.ctx).export_patient(session, mrn)
        result = bundle(data, self.ctx.config.mrn_system, now=self.ctx.now())
        text = json.dumps(result, ensure_ascii=False, indent=1) + "\n"
        counts = Counter(entry["resource"]["resourceType"] for entry in result["entry"])
        return FhirExport(files.safe_name(f"{data.patient['mrn']}-fhir.json"),
                          text.encode("utf-8"), dict(counts))

    def export_to_outbox(self, session: Session, mrn: Any) -> str:
        """Write the patient's Bundle as a NEW file (0600) in the user's outbox, never
        replacing one (a second export gets " (2)"); returns the path written."""
        export = self.export_file(session, mrn)
        folder = files.user_folder(self.ctx.config.data_dir, files.OUTBOX, session.username)
        return str(files.write_new(folder, export.filename, export.data))

    # --- import ---

    def inbox(self, session: Session) -> str:
        """The administrator's inbox (created 0700 on first use), where imports come from."""
        FhirService(self.ctx).import_check(session)
        return str(files.user_folder(self.ctx.config.data_dir, files.INBOX, session.username))

    def import_sources(self, session: Session) -> list[FhirSource]:
        """The ``.json``/``.ndjson`` files and the folders holding some (a bulk export)
        directly in the administrator's inbox, each with why it cannot be read if so."""
        inbox = Path(self.inbox(session))
        found: list[FhirSource] = []
        for name in sorted(os.listdir(inbox)):
            if name.startswith("."):
                continue
            try:
                info = os.lstat(inbox / name)
            except FileNotFoundError:
                continue
            when = datetime.fromtimestamp(info.st_mtime).replace(microsecond=0)
            if stat.S_ISDIR(info.st_mode):
                inner = self._folder_files(inbox / name)
                if inner:
                    found.append(FhirSource(name, True, len(inner),
                                            sum(size for _p, size, _w in inner), when))
            elif name.endswith(FHIR_SUFFIXES):
                found.append(FhirSource(name, False, 1, info.st_size, when,
                                        files.file_problem(info)))
        return found

    @staticmethod
    def _folder_files(folder: Path) -> list[tuple[Path, int, str | None]]:
        """The FHIR files directly in ``folder`` (name order): path, size, problem."""
        return [(folder / f.name, f.size, f.problem)
                for f in files.list_files(files.Folder("import", folder.name, folder))
                if f.name.endswith(FHIR_SUFFIXES)]

    def _chosen(self, session: Session, name: Any) -> tuple[Path, bool]:
        """The file or folder named ``name`` directly in the inbox (never a path, a link
        or a hidden file): its path and whether it is a folder."""
        name = files.check_name(name)
        inbox = Path(self.inbox(session))
        try:
            info = os.lstat(inbox / name)
        except FileNotFoundError:
            raise ValidationError({"file": f"There is no file or folder named {name} in your "
                                           "inbox."}) from None
        if stat.S_ISDIR(info.st_mode):
            return inbox / name, True
        if not name.endswith(FHIR_SUFFIXES):
            raise ValidationError({"file": f"{name} is not a FHIR file: choose a .json or "
                                           ".ndjson file, or a folder of them."})
        problem = files.file_problem(info)
        if problem:
            raise ValidationError({"file": f"{name} cannot be imported: {problem}."})
        return inbox / name, False

    def _read(self, path: Path, folder: bool) -> Iterator[Item | Refusal]:
        """The resources in the chosen file or folder; a file in the folder that may not
        be read (a link, ...) is refused in the summary, the rest is read."""
        parts = self._folder_files(path) if folder else [(path, 0, None)]
        for child, _size, problem in parts:
            where = f"{path.name}/{child.name}" if folder else child.name
            if problem:
                yield Refusal(where, f"not read: {problem}")
                continue
            try:
                yield from read_source(child)
            except UnicodeDecodeError:
                raise ValidationError({"file": f"{where} is not text (UTF-8): is it really a "
                                               "FHIR file? Nothing was imported."}) from None
            except OSError as exc:
                raise ValidationError({"file": f"{where} could not be read "
                                               f"({exc.strerror or exc}). Nothing was "
                                               "imported."}) from None

    def import_from_inbox(self, session: Session, name: Any, *, dry_run: bool = False
                          ) -> Tally:
        """Import the file or folder ``name`` from the administrator's inbox as ``meditrack
        import fhir`` does (one unit of work and audit entry per patient; ``dry_run``
        changes nothing); the summary of what was imported, matched, skipped and refused."""
        path, folder = self._chosen(session, name)
        return self.import_items(session, self._read(path, folder), dry_run=dry_run,
                                 files_from=path if folder else path.parent)

    def import_items(self, session: Session, items: Iterator[Item | Refusal], *,
                     dry_run: bool = False, files_from: Path | None = None) -> Tally:
        """The one import, for ``meditrack import fhir`` and the app alike: the doctors
        first (each matched or created in its own unit of work), then one unit of work and
        audit entry per patient. ``files_from``: the only folder report files named by a
        URL are read from. A dry run needs a store that rolls back (the embedded store, a
        MongoDB replica set): on a standalone MongoDB every write commits on its own, so
        it is refused before anything is read."""
        fhir = FhirService(self.ctx)
        fhir.import_check(session)
        if dry_run and not self.store.info.transactions:
            raise ValidationError({"file": (
                "A dry run needs a database that can undo its writes, and this MongoDB is a "
                "standalone server (no transactions): nothing was read or changed. Try the "
                "import on a copy of the clinic's data, or on a replica set.")})
        tally = Tally()
        # the spool (patient data, while the input is read) goes where the clinic's data
        # is; on MongoDB the data directory may not exist yet
        spool_dir = files.ensure_private_dir(self.ctx.config.data_dir)

        def doctors(found: Iterator[Item]) -> dict[str, Doctor]:
            return fhir.import_practitioners(session, found, tally, dry_run=dry_run)

        with closing(plan(items, self.ctx.config.mrn_system, tally, spool_dir=spool_dir,
                          doctors=doctors)) as groups:
            for group in groups:
                fhir.import_patient_safely(session, group, tally, dry_run=dry_run,
                                           files_from=files_from)
        return tally
