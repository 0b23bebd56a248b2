"""The Reports pane: list, upload with inline refusals, preview, save a copy, delete, roles."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Input,
    OptionList,
    Select,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)

from tests.conftest import notices, sync

try:  # tests/ is a package in some layouts, a plain folder in others
    from tests.conftest import login_as, settle
except ImportError:  # pragma: no cover
    from conftest import login_as, settle
from meditrack_tui.screens.forms.confirm import ConfirmScreen, PromptScreen
from meditrack_tui.screens.forms.deleted_reports import DeletedReportsScreen
from meditrack_tui.screens.forms.preview import PreviewScreen
from meditrack_tui.screens.forms.upload import UploadReportScreen
from meditrack_tui.screens.widgets.reports import ReportsPane
from meditrack_tui.screens.widgets.table import Table

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


def inbox(app) -> Path:
    """The logged-in user's inbox folder (as the upload form names it)."""
    return app.backend.config.data_dir / "inbox" / app.session.username


async def upload(app, pilot, path: Path | None, kind: str = "lab result",
                 note: str = "") -> UploadReportScreen:
    """Put ``path`` into the user's inbox (as SFTP would), open the form, choose it."""
    await pilot.press("ctrl+n")
    await settle(app, pilot)
    form = app.screen
    assert isinstance(form, UploadReportScreen)
    if path is not None:
        (inbox(app) / path.name).write_bytes(path.read_bytes())
        await pilot.press("f5")
        await settle(app, pilot)
        names = [f.name for f in form.files]
        form.query_one("#in-file", OptionList).highlighted = names.index(path.name)
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
        row = dict(zip(table.fitted_columns, (str(c) for c in table.get_row_at(0)), strict=True))
        full = {"uploaded": "2026-03-04", "file": "home_bp_log.csv", "kind": "test report",
                "type": "CSV table", "size": f"{len(content)} B", "by": "demo.doctor",
                "note": "Home BP log"}
        # at 80 columns the note, who and the type give way (the line under the table says)
        assert {"uploaded", "file", "kind", "size"} <= set(row)
        assert row == {key: full[key] for key in row}
        assert "3 reports" in str(pane.query_one("#reports-summary", Static).render())


@sync
async def test_the_form_lists_the_inbox_and_refuses_inline(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_reports(app, pilot, "demo.doctor")
        form = await upload(app, pilot, None)
        where = shown(form.query_one("#upload-where"))
        assert str(inbox(app)) in where  # says where to put files
        first = form.query_one("#in-file", OptionList).get_option_at_index(0)
        assert "No files waiting" in str(first.prompt)
        fake = tmp_path / "scan.pdf"
        fake.write_text("This is only text pretending to be a PDF.\n")
        await app.pop_screen()
        form = await upload(app, pilot, fake)
        assert app.screen is form
        assert "named .pdf but its content is plain text" in shown(form.query_one("#err-file"))
        # a link to a file elsewhere on the server is listed as not accepted
        (inbox(app) / "passwd.txt").symlink_to("/etc/passwd")
        await pilot.press("f5")
        await settle(app, pilot)
        listed = {f.name: f.problem for f in form.files}
        assert "symbolic link" in listed["passwd.txt"]
        index = [f.name for f in form.files].index("passwd.txt")
        assert form.query_one("#in-file", OptionList).get_option_at_index(index).disabled
        form.query_one("#in-note", Input).value = "typed"
        await pilot.press("escape")  # a note is typed: asks before discarding it
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
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
        assert any("cannot be shown here" in n.message for n in notices(app))


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
async def test_save_copy_goes_to_the_outbox_as_a_new_file(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_reports(app, pilot, "demo.doctor")
        outbox = app.backend.config.data_dir / "outbox" / "demo.doctor"
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        assert (outbox / "p01_lipid_panel.csv").read_bytes() == LIPID_PANEL.read_bytes()
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        assert (outbox / "p01_lipid_panel (2).csv").read_bytes() == LIPID_PANEL.read_bytes()
        assert any(f"Saved a copy to {outbox}/p01_lipid_panel (2).csv" in n.message
                   for n in notices(app))


@sync
async def test_doctor_deletes_after_confirmation(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_reports(app, pilot, "demo.doctor")
        await pilot.press("delete")
        await settle(app, pilot)
        assert isinstance(app.screen, PromptScreen)  # asks why
        await pilot.press("escape")
        await settle(app, pilot)
        assert len(files(pane)) == 2
        await pilot.press("delete")
        await settle(app, pilot)
        await pilot.press(*"duplicate", "enter")
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
        await pilot.press("ctrl+n")
        await settle(app, pilot)
        assert not isinstance(app.screen, UploadReportScreen)
        assert not pane.query("#reports-delete")  # admins read; they restore, not delete


@sync
async def test_admin_restores_a_deleted_report_after_a_confirmation(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        def doctor_deletes(s):  # from another terminal
            doctor = s.auth.login("demo.doctor", "meditrack-demo")
            pid = s.patients.list(doctor, query="Reyes").items[0]["id"]
            s.reports.delete(doctor, s.reports.list(doctor, pid)[0]["id"], "wrong patient")

        app.backend.call(doctor_deletes)
        pane = await open_reports(app, pilot, "demo.admin")
        assert len(files(pane)) == 1
        await pilot.press("t")
        await settle(app, pilot)
        listing = app.screen
        assert isinstance(listing, DeletedReportsScreen)
        row = [str(c) for c in listing.query_one(DataTable).get_row_at(0)]
        assert row[1:] == ["p01_lipid_panel.csv", "demo.doctor", "wrong patient"]
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "wrong patient" in str(app.screen.question)
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("escape")
        await settle(app, pilot)
        await settle(app, pilot)
        assert len(files(pane)) == 2


@sync
async def test_patient_uploads_own_but_cannot_delete_doctors_reports(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_reports(app, pilot, "demo.patient", last_name=None)
        delete = pane.query_one("#reports-delete", Button)
        assert not delete.display  # uploaded by the doctor: not offered
        assert "d" not in {k for k, b in app.screen.active_bindings.items()
                           if b.binding.show}
        await pilot.press("delete")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("only reports you uploaded yourself" in n.message
                   for n in notices(app))  # says why, not nothing
        note = tmp_path / "symptoms.txt"
        note.write_text("Headache in the mornings for a week.\n")
        await upload(app, pilot, note, kind="other")
        await settle(app, pilot)
        assert files(pane)[0] == "symptoms.txt"
        pane.query_one("#reports-table", DataTable).move_cursor(row=0)
        await pilot.pause()
        assert delete.display and not delete.disabled
        assert app.screen.active_bindings["delete"].binding.action == "delete"
        await pilot.press("delete")
        await settle(app, pilot)
        assert isinstance(app.screen, PromptScreen)  # own upload: asks why, then deletes


@sync
async def test_upload_form_asks_before_global_keys_discard_it(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_reports(app, pilot, "demo.doctor")
        await pilot.press("ctrl+n")
        await settle(app, pilot)
        form = app.screen
        assert isinstance(form, UploadReportScreen) and not form.has_unsaved_changes
        form.query_one("#in-note", Input).value = "Scanned at reception"
        for key in ("f2", "f10"):
            await pilot.press(key)
            await settle(app, pilot)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("escape")  # stay: the form keeps what was typed
            await settle(app, pilot)
            assert app.screen is form
            assert form.query_one("#in-note", Input).value == "Scanned at reception"
        await pilot.press("f2")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "DashboardScreen"


@sync
async def test_the_same_file_uploaded_twice_is_refused_inline_naming_the_first(make_app,
                                                                                tmp_path):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_reports(app, pilot, "demo.doctor")
        first = tmp_path / "home_bp_log.csv"
        first.write_text("date,systolic,diastolic\n2026-03-01,128,82\n")
        await upload(app, pilot, first, kind="test report")
        await settle(app, pilot)
        assert files(pane)[0] == "home_bp_log.csv"
        count = len(files(pane))
        again = tmp_path / "bp-copy.csv"
        again.write_bytes(first.read_bytes())
        form = await upload(app, pilot, again, kind="other")
        assert app.screen is form
        error = shown(form.query_one("#err-file"))
        assert "already on the patient's record: “home_bp_log.csv” (test report)" in error
        assert "by demo.doctor" in error and "Nothing was uploaded" in error
        await app.pop_screen()
        await settle(app, pilot)
        assert len(files(pane)) == count


@sync
async def test_preview_of_a_pdf_shows_pages_title_and_first_page_text(make_app):
    from meditrack_tui.seed import sample_data_dir

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_reports(app, pilot, "demo.doctor")
        await upload(app, pilot, sample_data_dir() / "reports" / "p05_thyroid_function.pdf")
        await settle(app, pilot)
        assert files(pane)[0] == "p05_thyroid_function.pdf"
        pane.query_one("#reports-table", DataTable).move_cursor(row=0)
        await pilot.pause()
        assert not pane.query_one("#reports-preview", Button).disabled
        pane.query_one("#reports-table", DataTable).focus()
        await pilot.press("p")
        await settle(app, pilot)
        preview = app.screen
        assert isinstance(preview, PreviewScreen)
        text = preview.query_one("#preview-text", TextArea).text
        assert text.startswith("PDF document · 1 page · title: Riverton Clinical Laboratory")
        assert "TSH" in text and "save a copy" in text


class ReadyHost(PaneHost):
    """The test host, counting the pane's Ready messages."""

    def __init__(self, pane: ReportsPane) -> None:
        super().__init__(pane)
        self.ready: list[int] = []  # the table's row count when each Ready arrived

    def on_reports_pane_ready(self, message: ReportsPane.Ready) -> None:
        self.ready.append(self.query_one("#reports-table", DataTable).row_count)


@sync
async def test_the_pane_says_ready_once_its_first_list_is_shown(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        session = app.session
        pid = app.backend.call(lambda s: s.patients.list(session, query="Reyes")).items[0]["id"]
        host = ReadyHost(ReportsPane(pid))
        await app.push_screen(host)
        await settle(app, pilot)
        assert host.ready == [2]
        host.pane.reload()
        await settle(app, pilot)
        assert host.ready == [2]


@sync
async def test_a_refused_delete_is_said_by_the_reports_pane(make_app):
    """The report was deleted elsewhere meanwhile: the refusal is a Reports notification and
    the list stays."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_reports(app, pilot, "demo.doctor")
        session, rid = app.session, pane.selected["id"]
        app.backend.call(lambda s: s.reports.delete(session, rid, "elsewhere"))
        app.clear_notifications()
        await pilot.press("delete")
        await settle(app, pilot)
        await pilot.press(*"duplicate", "enter")
        await settle(app, pilot)
        await settle(app, pilot)
        notes = [n for n in notices(app) if n.severity == "error"]
        assert [n.title for n in notes] == ["Reports"], [(n.title, n.message) for n in notes]
        assert pane.is_attached


@sync
async def test_upload_buttons_stay_on_screen_after_a_refusal_at_80x24(make_app, tmp_path):
    """Three files waiting and a refusal under the list: the form scrolls, its buttons
    stay in sight (they were pushed below the dialog's frame)."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_reports(app, pilot, "demo.doctor")
        box = inbox(app)
        box.mkdir(parents=True, exist_ok=True)
        (box / "home_bp_log.csv").write_text("date,systolic\n2026-03-01,128\n")
        (box / "passwd.txt").symlink_to("/etc/passwd")
        fake = tmp_path / "fake.pdf"
        fake.write_text("This is only text pretending to be a PDF.\n")
        form = await upload(app, pilot, fake)
        assert app.screen is form
        assert "named .pdf but its content is plain text" in shown(form.query_one("#err-file"))
        for button_id in ("#upload-save", "#upload-refresh", "#upload-cancel"):
            button = form.query_one(button_id, Button)
            region = button.region
            assert region.height and region.bottom <= 24, (button_id, region)
            widget, _ = form.get_widget_at(region.x + 1, region.y)
            assert widget is button, (button_id, widget)


@sync
async def test_a_pdf_preview_saves_a_copy_with_ctrl_o_as_it_says(make_app):
    """Issue 13: a PDF's preview (Enter on the row) says the rest needs a PDF viewer and to
    save a copy; Ctrl+O there did nothing (the preview held the keys, and the pane's Ctrl+O
    is not reachable under a modal screen). It closes the preview and saves the copy."""
    from meditrack_tui.seed import sample_data_dir

    shipped = (sample_data_dir() / "reports" / "p02_hba1c_metabolic_panel.pdf").read_bytes()
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_reports(app, pilot, "demo.doctor", "Whitaker")
        assert files(pane) == ["p02_hba1c_metabolic_panel.pdf"]
        pane.query_one("#reports-table", DataTable).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        preview = app.screen
        assert isinstance(preview, PreviewScreen)
        text = preview.query_one("#preview-text", TextArea).text
        assert "save a copy with Ctrl+O" in text
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        assert not isinstance(app.screen, PreviewScreen)
        outbox = app.backend.config.data_dir / "outbox" / "demo.doctor"
        assert (outbox / "p02_hba1c_metabolic_panel.pdf").read_bytes() == shipped
        assert any("Saved a copy to" in n.message and "p02_hba1c_metabolic_panel.pdf"
                   in n.message for n in notices(app))


@sync
async def test_a_download_the_browser_did_not_get_is_said(make_app):
    """A saved copy in a browser goes through deliver_binary; when Textual reports that the
    delivery failed, the user reads a sentence naming the file (never silently nothing)."""
    from textual import events

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        app.post_message(events.DeliveryFailed(key="k", exception=OSError("connection lost"),
                                               name="report p02_hba1c_metabolic_panel.pdf"))
        await settle(app, pilot)
        said = [n.message for n in notices(app)]
        assert any(m.startswith("p02_hba1c_metabolic_panel.pdf could not be delivered.")
                   for m in said), said


@sync
async def test_pdf_copy_after_the_appointments_tab_and_a_page_refocus(make_app):
    """Issue 13's path on the patient screen: Appointments tab, the browser page losing and
    regaining the focus (textual-serve's blur and focus), Reports tab, Ctrl+O on the PDF.
    The focus comes back to the table it left (not the first focusable widget), then moves
    to the reports table, so Ctrl+O reaches the pane and the copy is saved."""
    from meditrack_tui.screens.patient_detail import PatientScreen
    from textual import events

    from meditrack_tui.seed import sample_data_dir

    shipped = (sample_data_dir() / "reports" / "p02_hba1c_metabolic_panel.pdf").read_bytes()
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        session = app.session
        pid = app.backend.call(lambda s: s.patients.list(session, query="Whitaker")).items[0]["id"]
        await app.push_screen(PatientScreen(pid))
        await settle(app, pilot)
        await pilot.press("5")
        await settle(app, pilot)
        left = app.focused
        assert left is not None and left.id == "pane-table"
        app.post_message(events.AppBlur())
        await pilot.pause()
        app.post_message(events.AppFocus())
        await pilot.pause()
        assert app.focused is left
        await pilot.press("4")
        await settle(app, pilot)
        assert app.focused is not None and app.focused.id == "reports-table"
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        outbox = app.backend.config.data_dir / "outbox" / "demo.doctor"
        assert (outbox / "p02_hba1c_metabolic_panel.pdf").read_bytes() == shipped
