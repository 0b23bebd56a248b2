"""Export (FHIR) of the patient record on screen: the Bundle is built by the services in a
worker and handed over as a report copy is: in a browser, as a download; in a terminal, as
a new file in the user's outbox (never replacing one)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from textual.message import Message
from textual.widget import Widget

from meditrack_tui.services.fhir_files import FhirExport

from ..base import ServiceMixin
from ..messages import ServiceFailed

TITLE = "Export (FHIR)"


@dataclass
class FhirExportReady(Message):
    """The Bundle, built for a browser to download."""

    export: FhirExport


@dataclass
class FhirExportSaved(Message):
    """Where the Bundle was written (a new file in the user's outbox)."""

    path: str


class FhirExporter(ServiceMixin, Widget):
    """Not drawn: runs a record screen's FHIR export (one at a time) and says where the
    file went."""

    DEFAULT_CSS = "FhirExporter { display: none; }"

    def __init__(self, *, id: str | None = "fhir-exporter") -> None:
        super().__init__(id=id)
        self.running = False

    def export(self, mrn: str) -> None:
        """Export the record with this MRN (the services check who may, and audit it)."""
        if self.running:
            self.app.notify("The export is still being written; one moment.", title=TITLE,
                            markup=False)
            return
        self.running = True
        session = self.ctx.session
        self.app.notify(f"Exporting the record {mrn} as FHIR…", title=TITLE, timeout=3,
                        markup=False)
        if self.app.is_web:
            self.ask(lambda s: s.fhir_files.export_file(session, mrn), FhirExportReady,
                     group="fhir-export")
        else:
            self.ask(lambda s: s.fhir_files.export_to_outbox(session, mrn), FhirExportSaved,
                     group="fhir-export")

    def on_fhir_export_ready(self, message: FhirExportReady) -> None:
        message.stop()
        self.running = False
        export = message.export
        self.app.deliver_binary(io.BytesIO(export.data), save_filename=export.filename,
                                mime_type="application/fhir+json")
        self.app.notify(f"{export.filename} is being downloaded by your browser.",
                        title=TITLE, markup=False)

    def on_fhir_export_saved(self, message: FhirExportSaved) -> None:
        message.stop()
        self.running = False
        path = Path(message.path)
        self.app.notify(f"Saved {path.name} in your outbox, {path.parent} (over SSH: sftp, "
                        "in /outbox).", title=TITLE, timeout=10, markup=False)

    def on_service_failed(self, message: ServiceFailed) -> None:
        """A refusal is the service's sentence (the base handler's notification)."""
        self.running = False
