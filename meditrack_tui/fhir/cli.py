"""``meditrack export fhir`` and ``meditrack import fhir``: run on the server, as the
account that runs MediTrack.

Authentication: like ``create-admin``, these are the server administrator's commands.
Whoever can run MediTrack as its service account can read its store and secret anyway;
the command opens a session with the admin role named ``shell:<os user>``
(:meth:`AuthService.shell_session`, audited as ``session.shell``), makes every read and
write through the services with it (so each is policy-checked and audited as usual) and
logs it out at the end.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..config import Config
from ..errors import MediTrackError

if TYPE_CHECKING:
    from ..services import Services, Session
    from .imports import Tally


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                add_common: Callable[[argparse.ArgumentParser, object], None]) -> None:
    """The ``export`` and ``import`` commands (``add_common`` adds the store options)."""
    export = sub.add_parser("export", help="export patient records (FHIR R4)")
    export_sub = export.add_subparsers(dest="export_format", metavar="FORMAT", required=True)
    fhir = export_sub.add_parser(
        "fhir", help="one patient's record as a FHIR R4 Bundle (type collection) in a new "
                     "FILE (report files inside it, or beside it with --files-beside); or "
                     "with --all every record as bulk NDJSON, one file per resource type, "
                     "in a new folder DIR (report files in DIR/files)")
    add_common(fhir, argparse.SUPPRESS)
    which = fhir.add_mutually_exclusive_group(required=True)
    which.add_argument("--patient", metavar="MRN", help="the patient's MRN (e.g. MRN-000001)")
    which.add_argument("--all", action="store_true",
                       help="every patient's record (archived ones too) as bulk NDJSON")
    fhir.add_argument("--files-beside", action="store_true",
                      help="write the report files into a folder next to FILE and refer to "
                           "them by name instead of embedding them")
    fhir.add_argument("file", metavar="FILE|DIR",
                      help="the Bundle to write (never overwritten), or with --all the "
                           "folder to create (never one that holds files)")
    imp = sub.add_parser("import", help="import patient records (FHIR R4)")
    imp_sub = imp.add_subparsers(dest="import_format", metavar="FORMAT", required=True)
    fhir_in = imp_sub.add_parser(
        "fhir", help="read FHIR R4 Bundles (collection, transaction, searchset) or bulk "
                     "NDJSON from FILE or every *.json/*.ndjson in DIR: match patients by "
                     "identifier or create them; keep their details, allergies, conditions, "
                     "vitals, prescriptions, appointments and report files (embedded, or "
                     "file:// URLs read only from inside the folder being imported); match "
                     "doctors (Practitioner) by username or identifier, or create their "
                     "accounts deactivated with a password nobody knows (an administrator "
                     "resets it and reactivates them); print what was imported, matched, "
                     "skipped and refused",
        description="Import FHIR R4 resources: Patient, AllergyIntolerance, Condition, "
                    "Observation (vitals), MedicationRequest, Appointment, DocumentReference "
                    "(report files) and Practitioner (doctors); other types are skipped "
                    "with the reason. Doctors not yet in MediTrack get accounts "
                    "that cannot sign in until an administrator resets the password and "
                    "reactivates them. Report files referred to by URL are read only from "
                    "inside DIR (or the folder holding FILE). Importing twice creates "
                    "nothing new.")
    add_common(fhir_in, argparse.SUPPRESS)
    fhir_in.add_argument("path", metavar="FILE|DIR", help="a Bundle, an NDJSON file or a folder")
    fhir_in.add_argument("--dry-run", action="store_true",
                         help="show what would change without changing anything")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (a container): the number will do
        return str(os.getuid())


def _shell(services: Services, command: str) -> Session:
    return services.auth.shell_session(command, _os_user())


def export_patient(services: Services, session: Session, mrn: str, path: Path, *,
                   files_beside: bool = False) -> dict[str, int]:
    """Write one patient's Bundle to ``path`` (a new file); the resource counts by type."""
    from ..fhir.export import bundle
    from ..files import write_new

    data = services.fhir.export_patient(session, mrn)
    if files_beside:
        folder = path.with_name(path.stem + "-files")
        folder.mkdir(mode=0o700, exist_ok=True)
        for report in data.reports:
            if report.data is not None:
                written = write_new(folder, report.row["filename"], report.data)
                # an R4 url needs a scheme (and validators a host): file://localhost/...
                report.url = "file://localhost" + quote(str(written.resolve()))
    result = bundle(data, services.config.mrn_system, now=services.ctx.now())
    text = json.dumps(result, ensure_ascii=False, indent=1)
    with open(path, "x", encoding="utf-8") as handle:
        handle.write(text + "\n")
    counts: dict[str, int] = {}
    for entry in result["entry"]:
        kind = entry["resource"]["resourceType"]
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def export_all(services: Services, session: Session, folder: Path, *,
               progress: bool = False) -> dict[str, int]:
    """Write every patient's record into the new ``folder`` as bulk NDJSON, a page of
    patients at a time (see :class:`~.bulk.BulkWriter`); the resource counts by type.
    ``progress``: a progress bar on the terminal (stderr)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from .bulk import BulkWriter, prepare_folder

    total = services.fhir.export_total(session)
    prepare_folder(folder)
    console = Console(stderr=True, highlight=False)
    bar = Progress(TextColumn("Exporting patients"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), console=console,
                   disable=not (progress and console.is_terminal))
    with bar, BulkWriter(folder, services.config.mrn_system) as writer:
        task = bar.add_task("export", total=total)
        for data in services.fhir.export_all(session):
            writer.add(data)
            bar.advance(task)
    return writer.counts


def import_path(services: Services, session: Session, path: Path, *,
                dry_run: bool = False) -> Tally:
    """Import every patient found at ``path``, one unit of work (and audit entry) each;
    report files named by URL are read from the folder being imported, only."""
    from .imports import read_source

    return services.fhir_files.import_items(
        session, read_source(path), dry_run=dry_run,
        files_from=path if path.is_dir() else path.parent)


def print_summary(tally: Tally, *, dry_run: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title="FHIR import" + (" (dry run: nothing was changed)" if dry_run else ""))
    for column in ("Resource", "Imported", "Matched", "Skipped", "Refused"):
        table.add_column(column, justify="left" if column == "Resource" else "right")
    for kind, row in sorted(tally.counts.items()):
        table.add_row(kind, *(str(row[k]) for k in ("imported", "matched", "skipped",
                                                    "refused")))
    console.print(table)
    for (kind, reason), n in sorted(tally.reasons.items()):
        console.print(f"Skipped {n} {kind}: {reason}", markup=False)
    for note in tally.notes[:50]:
        console.print(note, markup=False)
    if len(tally.notes) > 50:
        console.print(f"... and {len(tally.notes) - 50} more.")
    for message in tally.refused[:50]:
        console.print(f"Refused {message}", markup=False)
    if len(tally.refused) > 50:
        console.print(f"... and {len(tally.refused) - 50} more refused.")


def run(args: argparse.Namespace, config: Config) -> int:
    """Dispatch ``export fhir`` and ``import fhir``."""
    if args.command == "import":
        return run_import(args, config)
    from ..runtime import Backend

    backend = Backend(config)
    path = Path(args.file)
    if args.all:
        return run_export_all(args, backend, path)
    if path.exists():
        print(f"meditrack: {path} already exists; choose a new file name (an export never "
              "overwrites a file).", file=sys.stderr)
        return 1
    if not path.parent.is_dir():
        print(f"meditrack: the folder {path.parent} does not exist.", file=sys.stderr)
        return 1
    return _export_as_shell(
        backend, f"export fhir --patient {args.patient}", path,
        lambda services, session: export_patient(services, session, args.patient, path,
                                                 files_beside=args.files_beside))


def _export_as_shell(backend: Any, command: str, where: Path,
                     export: Callable[[Services, Session], dict[str, int]]) -> int:
    """Run ``export`` on the store thread in a shell session (audited, logged out after);
    print what was written, or the refusal."""
    try:
        backend.open()

        def work(services: Services) -> dict[str, int]:
            session = _shell(services, command)
            try:
                return export(services, session)
            finally:
                services.auth.logout(session)

        counts = backend.call(work)
    except MediTrackError as exc:
        print(f"meditrack: {exc.message}", file=sys.stderr)
        return 1
    finally:
        backend.close()
    print(f"Wrote {where}: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return 0


def run_export_all(args: argparse.Namespace, backend: Any, folder: Path) -> int:
    from .bulk import prepare_folder

    if args.files_beside:
        print("meditrack: --files-beside is for one patient's Bundle; a bulk export always "
              "writes the report files beside the NDJSON files.", file=sys.stderr)
        return 1
    try:
        prepare_folder(folder)
    except MediTrackError as exc:
        print(f"meditrack: {exc.message}", file=sys.stderr)
        return 1
    return _export_as_shell(
        backend, "export fhir --all", folder,
        lambda services, session: export_all(services, session, folder, progress=True))


def run_import(args: argparse.Namespace, config: Config) -> int:
    from ..runtime import Backend

    path = Path(args.path)
    if not path.exists():
        print(f"meditrack: {path} does not exist.", file=sys.stderr)
        return 1
    backend = Backend(config)
    try:
        backend.open()

        def work(services: Services) -> Tally:
            session = _shell(services, f"import fhir {path.name}"
                             + (" --dry-run" if args.dry_run else ""))
            try:
                return import_path(services, session, path, dry_run=args.dry_run)
            finally:
                services.auth.logout(session)

        tally = backend.call(work)
    except MediTrackError as exc:
        print(f"meditrack: {exc.message}", file=sys.stderr)
        return 1
    finally:
        backend.close()
    print_summary(tally, dry_run=args.dry_run)
    return 0
