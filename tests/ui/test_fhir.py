"""FHIR in the app (issue 14): Export (FHIR) on a patient's record (a new file in the
outbox in a terminal, a download in a browser) and the administrator's Import (FHIR) from
their inbox with a dry run's summary first."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from meditrack_tui.screens import app as app_module
from meditrack_tui.screens.app import MediTrackApp
from meditrack_tui.screens.forms.fhir_import import FhirImportScreen
from meditrack_tui.screens.patient_detail import PatientScreen
from meditrack_tui.screens.patients import PatientListScreen
from meditrack_tui.screens.users import UsersScreen
from meditrack_tui.screens.widgets.fhir_export import FhirExporter
from meditrack_tui.screens.widgets.table import Table
from textual.widgets import OptionList

from tests.conftest import login_as, notices, open_own_record, record_notices, settle, sync
from tests.fhir_synthea import patient_bundle

PASSWORD = "meditrack-demo"


async def open_reyes(app: Any, pilot: Any, username: str) -> PatientScreen:
    await login_as(app, pilot, username)
    await pilot.press("f3")
    await settle(app, pilot)
    assert isinstance(app.screen, PatientListScreen)
    session = app.session
    pid = app.backend.call(lambda s: s.patients.list(session, query="reyes").items[0]["id"])
    app.screen.open_patient(pid)
    await settle(app, pilot)
    assert isinstance(app.screen, PatientScreen) and app.screen.record is not None
    return app.screen


def messages(app: Any) -> list[str]:
    return [n.message for n in notices(app)]


def patient_count(app: Any) -> int:
    admin = app.backend.call(lambda s: s.auth.login("demo.admin", PASSWORD))
    return app.backend.call(lambda s: s.patients.list(admin, page_size=1).total)


@sync
async def test_export_in_a_terminal_writes_a_new_bundle_each_time(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_reyes(app, pilot, "demo.doctor")
        outbox = app.backend.config.data_dir / "outbox" / "demo.doctor"
        await pilot.press("ctrl+x")
        await settle(app, pilot)
        first = outbox / "MRN-000001-fhir.json"
        bundle = json.loads(first.read_text("utf-8"))
        assert bundle["resourceType"] == "Bundle"
        patients = [e["resource"] for e in bundle["entry"]
                    if e["resource"]["resourceType"] == "Patient"]
        assert [p["name"][0]["family"] for p in patients] == ["Reyes"]
        assert oct(first.stat().st_mode & 0o777) == "0o600"
        before = first.read_bytes()
        await pilot.press("ctrl+x")
        await settle(app, pilot)
        assert json.loads((outbox / "MRN-000001-fhir (2).json").read_text("utf-8"))["entry"]
        assert first.read_bytes() == before
        assert any("Saved MRN-000001-fhir (2).json in your outbox" in m and "sftp" in m
                   for m in messages(app))


@sync
async def test_export_is_in_the_palette_of_the_record(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_reyes(app, pilot, "demo.admin")
        titles = [c.title for c in app.get_system_commands(screen)]
        assert "Export this record (FHIR)" in titles
        assert "patient-export" in {b.binding.id for b in screen.active_bindings.values()}


@sync
async def test_a_patient_exports_their_own_record_and_not_another(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_own_record(app, pilot)
        mrn = screen.record["mrn"]
        await pilot.press("ctrl+x")
        await settle(app, pilot)
        outbox = app.backend.config.data_dir / "outbox" / "demo.patient"
        assert [p.name for p in outbox.iterdir()] == [f"{mrn}-fhir.json"]
        other = "MRN-000002" if mrn != "MRN-000002" else "MRN-000003"
        app.clear_notifications()
        screen.query_one(FhirExporter).export(other)
        await settle(app, pilot)
        errors = [n for n in notices(app) if n.severity == "error"]
        assert errors and "Traceback" not in errors[-1].message
        assert errors[-1].message == "You can only see and change your own records."
        assert [p.name for p in outbox.iterdir()] == [f"{mrn}-fhir.json"]


class BrowserApp(MediTrackApp):
    """The app as textual-serve runs it: a browser session, whose downloads are kept here."""

    CSS_PATH = [Path(app_module.__file__).parent / name  # the App's own sheets
                for name in MediTrackApp.CSS_PATH]
    delivered: list[tuple[bytes, str | None, str | None]]

    @property
    def is_web(self) -> bool:
        return True

    def deliver_binary(self, path_or_file: Any, *, encoding: str | None = None,
                       save_directory: Any = None, save_filename: str | None = None,
                       open_method: Any = "download", mime_type: str | None = None,
                       name: str | None = None) -> str | None:
        self.delivered.append((path_or_file.read(), save_filename, mime_type))
        return None


@sync
async def test_in_a_browser_the_bundle_is_delivered_as_a_download(demo_backend):
    from meditrack_tui.seed import DEMO_LOGINS, DEMO_PASSWORD

    app = record_notices(BrowserApp(demo_backend, live=False, key_settle=0.0,
                                    demo_logins=(DEMO_LOGINS, DEMO_PASSWORD)))
    app.delivered = []
    async with app.run_test(size=(80, 24)) as pilot:
        await open_reyes(app, pilot, "demo.doctor")
        await pilot.press("ctrl+x")
        await settle(app, pilot)
        ((data, filename, mime),) = app.delivered
        assert filename == "MRN-000001-fhir.json" and mime == "application/fhir+json"
        assert json.loads(data)["entry"][0]["resource"]["resourceType"] == "Patient"
        assert not (app.backend.config.data_dir / "outbox" / "demo.doctor").exists()
        assert any("being downloaded by your browser" in m for m in messages(app))


def fill_inbox(app: Any, tmp_path: Any) -> Any:
    box = app.backend.config.data_dir / "inbox" / "demo.admin"
    box.mkdir(parents=True, mode=0o700, exist_ok=True)
    entries = patient_bundle(31)["entry"] + patient_bundle(32)["entry"]
    (box / "clinic-b.json").write_text(json.dumps(
        {"resourceType": "Bundle", "type": "collection", "entry": entries}))
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(patient_bundle(33)))
    os.symlink(outside, box / "linked.json")
    (tmp_path / "not-offered.json").write_text(json.dumps(patient_bundle(34)))
    return box


async def open_import(app: Any, pilot: Any) -> FhirImportScreen:
    await login_as(app, pilot, "demo.admin")
    await pilot.press("f7")
    await settle(app, pilot)
    assert isinstance(app.screen, UsersScreen)
    await pilot.press("ctrl+b")
    await settle(app, pilot)
    assert isinstance(app.screen, FhirImportScreen)
    return app.screen


@sync
async def test_admin_import_dry_run_changes_nothing_then_imports(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        fill_inbox(app, tmp_path)
        before = patient_count(app)
        dialog = await open_import(app, pilot)
        options = dialog.query_one("#fhir-sources", OptionList)
        offered = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert [o.split()[0] for o in offered] == ["clinic-b.json", "linked.json"]
        assert "not readable" in offered[1] and options.get_option_at_index(1).disabled
        assert not any("not-offered" in o or "outside" in o for o in offered)
        await pilot.press("enter")  # the highlighted file: a dry run
        await settle(app, pilot)
        table = dialog.query_one("#fhir-summary", Table)
        assert table.display and table.row_count >= 5
        assert [str(c) for c in table.get_row("Patient")] == ["Patient", "2", "0", "0", "0"]
        assert "Dry run of clinic-b.json" in str(dialog.query_one("#fhir-status").render())
        assert patient_count(app) == before
        await pilot.press("enter")  # Import
        await settle(app, pilot)
        assert patient_count(app) == before + 2
        assert [str(c) for c in table.get_row("Patient")] == ["Patient", "2", "0", "0", "0"]
        assert "Imported clinic-b.json" in str(dialog.query_one("#fhir-status").render())
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, UsersScreen)


@sync
async def test_admin_cancels_after_the_dry_run_and_a_path_is_refused(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        fill_inbox(app, tmp_path)
        before = patient_count(app)
        dialog = await open_import(app, pilot)
        dialog.run("../../../" + str(tmp_path / "not-offered.json"), dry_run=False)
        await settle(app, pilot)
        status = str(dialog.query_one("#fhir-status").render())
        assert "no paths" in status and "Traceback" not in status
        assert patient_count(app) == before
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, UsersScreen)
        assert "Nothing was imported." in messages(app)
        assert patient_count(app) == before


@sync
async def test_a_non_admin_never_sees_the_import(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        await app.push_screen(UsersScreen())
        await settle(app, pilot)
        screen = app.screen
        assert "users-import" not in {b.binding.id for b in screen.active_bindings.values()
                                      if b.enabled}
        assert not any("Import" in c.title for c in app.get_system_commands(screen))
        await pilot.press("ctrl+b")
        await settle(app, pilot)
        assert not isinstance(app.screen, FhirImportScreen)
