"""The Reports pane: list, upload with inline refusals, preview, save a copy, delete, roles."""

from __future__ import annotations

from tests.conftest import sync

from pathlib import Path

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import (Button, DataTable, Footer, Input, Select, Static, TabbedContent,
                             TabPane, TextArea)

try:  # tests/ is a package in some layouts, a plain folder in others
    from tests.conftest import login_as, settle
except ImportError:  # pragma: no cover
    from conftest import login_as, settle
from screens.base import Table
from screens.confirm import ConfirmScreen
from screens.reports import PreviewScreen, ReportsPane, SaveCopyScreen, UploadReportScreen

LIPID_PANEL = Path(__file__).resolve().parents[2] / "sample_data" / "reports" / \
    "p01_lipid_panel.csv"




class PaneHost(Screen):
    """A bare stand-in for the patient screen: a header line, one tab, the footer."""

    DEFAULT_CSS = "PaneHost TabPane { padding: 0 1; height: 1fr; } #host-banner { height: 1; }"

    def __init__(self, pane: ReportsPane) -> None:
        super().__init__()
        self.pane = pane

    def compose(self) -> ComposeResult:
        yield Static("Patient record (test host)", id="host-banner")
        with TabbedContent():
            with TabPane("Reports", id="reports"):
                yield self.pane
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#reports-table", DataTable).focus()


async def open_reports(app, pilot, username: str, last_name: str | None = "Reyes"
                       ) -> ReportsPane:
    await login_as(app, pilot, username)
    if last_name is None:
        pid = app.session.patient_id
    else:
        session = app.session
        pid = app.backend.call(lambda s: s.patients.list(session, query=last_name)).items[0]["id"]
    pane = ReportsPane(pid)
    await app.push_screen(PaneHost(pane))
    await settle(app, pilot)
    return pane


def files(pane: ReportsPane) -> list[str]:
    table = pane.query_one("#reports-table", DataTable)
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


def shown(widget: Static) -> str:
    return str(widget.render()) if widget.display else ""


async def upload(app, pilot, path: Path, kind: str = "lab result",
                 note: str = "") -> UploadReportScreen:
    await pilot.press("u")
    await settle(app, pilot)
    form = app.screen
    assert isinstance(form, UploadReportScreen)
    form.query_one("#in-path", Input).value = str(path)
    form.query_one("#in-kind", Select).value = kind
    form.query_one("#in-note", Input).value = note
    form.query_one("#in-note", Input).focus()
    await pilot.press("enter")
    await settle(app, pilot)
    return form


@sync
async def test_doctor_uploads_a_csv_and_it_is_listed(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_reports(app, pilot, "demo.doctor")
        assert files(pane) == ["p01_lipid_panel.csv", "p01_prescription_lisinopril.jpg"]
        csv_file = tmp_path / "home_bp_log.csv"
        content = "date,systolic,diastolic\n2026-03-01,128,82\n2026-03-02,131,84\n"
        csv_file.write_text(content)
        await upload(app, pilot, csv_file, kind="test report", note="Home BP log")
        assert not isinstance(app.screen, UploadReportScreen)
        await settle(app, pilot)
        assert files(pane)[0] == "home_bp_log.csv"
        table = pane.query_one("#reports-table", Table)
        row = dict(zip(table.fitted_columns, (str(c) for c in table.get_row_at(0))))
        full = {"uploaded": "2026-03-04", "file": "home_bp_log.csv", "kind": "test report",
                "type": "CSV table", "size": f"{len(content)} B", "by": "demo.doctor",
                "note": "Home BP log"}
        # at 80 columns the note, who and the type give way (the line under the table says)
        assert {"uploaded", "file", "kind", "size"} <= set(row)
        assert row == {key: full[key] for key in row}
        assert "3 reports" in str(pane.query_one("#reports-summary", Static).render())


@sync
async def test_text_renamed_pdf_and_missing_file_are_refused_inline(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_reports(app, pilot, "demo.doctor")
        fake = tmp_path / "scan.pdf"
        fake.write_text("This is only text pretending to be a PDF.\n")
        form = await upload(app, pilot, fake)
        assert app.screen is form
        assert "named .pdf but its content is plain text" in shown(form.query_one("#err-file"))
        form.query_one("#in-path", Input).value = str(tmp_path / "nothing-here.pdf")
        form.query_one("#in-path", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert not form.query_one("#err-file").display
        assert "There is no file at" in shown(form.query_one("#err-path"))
        form.query_one("#in-path", Input).value = str(tmp_path)
        await pilot.press("enter")
        await settle(app, pilot)
        assert "is a folder, not a file" in shown(form.query_one("#err-path"))
        await pilot.press("escape")  # a path is typed: asks before discarding it
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(app, pilot)
        assert len(files(pane)) == 2


@sync
async def test_preview_csv_shows_its_rows_and_jpeg_is_not_previewed(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_reports(app, pilot, "demo.doctor")
        await pilot.press("p")  # the cursor is on the newest report, the lipid panel CSV
        await settle(app, pilot)
        preview = app.screen
        assert isinstance(preview, PreviewScreen)
        table = preview.query_one("#preview-table", DataTable)
        header = [str(col.label) for col in table.columns.values()]
        assert header == ["test", "value", "unit", "reference_range", "flag"]
        expected = len([line for line in LIPID_PANEL.read_text().splitlines() if line.strip()])
        assert table.row_count == expected - 1
        assert any("LDL" in str(table.get_row_at(i)[0]) for i in range(table.row_count))
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen.query_one(ReportsPane) is pane
        await pilot.press("down")
        assert pane.query_one("#reports-preview", Button).disabled
        await pilot.press("enter")  # Enter on a JPEG explains instead of previewing
        await settle(app, pilot)
        assert not isinstance(app.screen, PreviewScreen)
        assert any("cannot be shown here" in n.message for n in app._notifications)


@sync
async def test_preview_text_report_read_only(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_reports(app, pilot, "demo.doctor", "Tanaka")  # p10, pneumonia
        names = files(pane)
        assert names == ["p10_discharge_summary.txt", "p10_chest_xray_report.txt",
                         "p10_chest_xray.jpg"]
        await pilot.press("p")
        await settle(app, pilot)
        assert isinstance(app.screen, PreviewScreen)
        text = app.screen.query_one("#preview-text", TextArea)
        assert text.read_only
        assert text.text.startswith(
            (Path(LIPID_PANEL).parent / "p10_discharge_summary.txt").read_text()[:40])


@sync
async def test_save_copy_then_confirm_before_replacing(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_reports(app, pilot, "demo.doctor")
        target = tmp_path / "lipids.csv"

        async def save_to(path: Path) -> SaveCopyScreen:
            await pilot.press("s")
            await settle(app, pilot)
            form = app.screen
            assert isinstance(form, SaveCopyScreen)
            assert form.query_one("#in-destination", Input).value.endswith(
                "/p01_lipid_panel.csv")
            form.query_one("#in-destination", Input).value = str(path)
            await pilot.press("enter")
            await settle(app, pilot)
            return form

        await save_to(target)
        assert not isinstance(app.screen, SaveCopyScreen)
        assert target.read_bytes() == LIPID_PANEL.read_bytes()

        target.write_text("an older file\n")
        form = await save_to(target)
        assert isinstance(app.screen, ConfirmScreen)
        assert "already exists. Replace it?" in str(app.screen.question)
        await pilot.press("n")
        await settle(app, pilot)
        assert app.screen is form
        assert "was kept" in shown(form.query_one("#err-destination"))
        assert target.read_text() == "an older file\n"

        await pilot.press("enter")  # try again, and this time replace it
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(app, pilot)
        assert not isinstance(app.screen, (ConfirmScreen, SaveCopyScreen))
        assert target.read_bytes() == LIPID_PANEL.read_bytes()

        # a folder as destination keeps the report's own name
        await save_to(tmp_path)
        assert (tmp_path / "p01_lipid_panel.csv").read_bytes() == LIPID_PANEL.read_bytes()
        # a folder that does not exist is refused inline
        form = await save_to(tmp_path / "missing" / "x.csv")
        assert "does not exist" in shown(form.query_one("#err-destination"))


@sync
async def test_doctor_deletes_after_confirmation(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_reports(app, pilot, "demo.doctor")
        await pilot.press("d")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(app, pilot)
        assert len(files(pane)) == 2
        await pilot.press("d")
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        await settle(app, pilot)
        assert files(pane) == ["p01_prescription_lisinopril.jpg"]


@sync
async def test_admin_reads_but_is_not_offered_upload(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_reports(app, pilot, "demo.admin")
        assert len(files(pane)) == 2
        assert not pane.query("#reports-upload")
        await pilot.press("u")
        await settle(app, pilot)
        assert not isinstance(app.screen, UploadReportScreen)
        assert pane.query("#reports-delete")  # admins may delete (policy: any)


@sync
async def test_patient_uploads_own_but_cannot_delete_doctors_reports(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_reports(app, pilot, "demo.patient", last_name=None)
        delete = pane.query_one("#reports-delete", Button)
        assert not delete.display  # uploaded by the doctor: not offered
        assert "d" not in {k for k, b in app.screen.active_bindings.items()
                           if b.binding.show}
        await pilot.press("d")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("only reports you uploaded yourself" in n.message
                   for n in app._notifications)  # says why, not nothing
        note = tmp_path / "symptoms.txt"
        note.write_text("Headache in the mornings for a week.\n")
        await upload(app, pilot, note, kind="other")
        await settle(app, pilot)
        assert files(pane)[0] == "symptoms.txt"
        pane.query_one("#reports-table", DataTable).move_cursor(row=0)
        await pilot.pause()
        assert delete.display and not delete.disabled
        assert app.screen.active_bindings["d"].binding.action == "delete"
        await pilot.press("d")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)  # own upload: asks, then deletes


@sync
async def test_upload_form_asks_before_global_keys_discard_it(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_reports(app, pilot, "demo.doctor")
        await pilot.press("u")
        await settle(app, pilot)
        form = app.screen
        assert isinstance(form, UploadReportScreen) and not form.has_unsaved_changes
        form.query_one("#in-note", Input).value = "Scanned at reception"
        for key in ("f2", "f10"):
            await pilot.press(key)
            await settle(app, pilot)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")  # stay: the form keeps what was typed
            await settle(app, pilot)
            assert app.screen is form
            assert form.query_one("#in-note", Input).value == "Scanned at reception"
        await pilot.press("f2")
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "DashboardScreen"
