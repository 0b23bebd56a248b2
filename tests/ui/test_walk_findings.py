"""Findings of driving every screen at 80x24 with tui-drive (issue 12, "Done means")."""

from __future__ import annotations

from meditrack_tui.screens.forms.deleted_reports import DeletedReportsScreen
from textual.widgets import DataTable

from tests.conftest import login_as, settle, sync


@sync
async def test_deleted_reports_fit_the_dialog_at_80x24(make_app):
    """The reason column was cut mid-word at the dialog's edge with a horizontal
    scrollbar under the row: the columns now fit the dialog, a long reason ends in '…'."""
    reason = "duplicate of the lab's copy, uploaded twice by mistake"
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        def doctor_deletes(s):  # from another terminal
            doctor = s.auth.login("demo.doctor", "meditrack-demo")
            pid = s.patients.list(doctor, query="Reyes").items[0]["id"]
            s.reports.delete(doctor, s.reports.list(doctor, pid)[0]["id"], reason)
            return pid

        pid = app.backend.call(doctor_deletes)
        await login_as(app, pilot, "demo.admin")
        await app.push_screen(DeletedReportsScreen(pid))
        await settle(app, pilot)
        table = app.screen.query_one("#deleted-table", DataTable)
        assert table.row_count == 1
        assert table.virtual_size.width <= table.size.width  # no horizontal scrolling
        cells = [str(c) for c in table.get_row_at(0)]
        assert "p01_lipid_panel.csv" in cells  # the file keeps its name
        rendered = "".join(str(strip.text) for strip in
                           (table.render_line(y) for y in range(table.size.height)))
        assert "…" in rendered  # too long for 80 columns: cut with an ellipsis
        await pilot.press("enter")
        await settle(app, pilot)
        assert reason in str(app.screen.question)  # the confirmation says it in full
