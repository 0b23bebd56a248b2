"""Layout at 80x24 and 120x40: tables fit their width (short forms, dropped and cut columns),
the footer fits the terminal, the vitals table sits beside the chart on a wide terminal."""

from __future__ import annotations

from typing import Any

from meditrack_tui.screens.audit_log import AuditScreen
from meditrack_tui.screens.dashboard import DashboardScreen
from meditrack_tui.screens.widgets.appointment_table import AppointmentTable, RecordTable
from meditrack_tui.screens.widgets.choice import Choice
from meditrack_tui.screens.widgets.footer import AppFooter
from meditrack_tui.screens.widgets.table import Fit, Table, fit_widths, share
from meditrack_tui.screens.widgets.vitals import VitalsPane
from textual.widgets import DataTable

from tests.conftest import login_as, open_own_vitals, settle, sync


def test_share_cuts_the_widest_first():
    assert share([10, 20], 40) == [10, 20]
    assert share([10, 20], 24) == [10, 14]
    assert share([17, 20], 30) == [15, 15]
    assert sum(share([5, 30, 40], 50)) == 50


def test_fit_widths_drops_then_cuts():
    natural = {"when": 6, "patient": 17, "flag": 20, "mrn": 10}
    fit = Fit(flex=("patient", "flag"), drop=("mrn",))
    assert fit_widths(natural, 80, fit) == natural  # room enough: as they are
    narrow = fit_widths(natural, 46, fit)
    assert "mrn" not in narrow
    assert sum(w + 2 for w in narrow.values()) <= 46
    assert narrow["when"] == 6 and narrow["patient"] >= 12 and narrow["flag"] >= 12


def footer_width(footer: Any) -> int:
    return sum(key.outer_size.width for key in footer.children)


@sync
async def test_doctor_dashboard_fits_80_columns(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        alerts = screen.query_one("#alerts", RecordTable)
        shown = sum(c.get_render_width(alerts) for c in alerts.columns.values())
        assert shown <= alerts.size.width  # no sideways scrolling, every alert row visible
        assert "when" in alerts.fitted_columns and "mrn" not in alerts.fitted_columns
        assert alerts.row_count == 8 and alerts.max_scroll_y == 0
        footer = screen.query_one(AppFooter)
        assert footer_width(footer) <= 80
        labels = [getattr(key, "description", "") for key in footer.children]
        assert "Actions" in labels and "palette" in labels


@sync
async def test_appointment_list_reason_gets_the_rest(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        await pilot.press("f4")
        await settle(app, pilot)
        await pilot.press("ctrl+l")
        await settle(app, pilot)
        table = app.screen.query_one("#list-table", AppointmentTable)
        widths = dict(table._fit_layout or ())
        assert widths["date"] == 6  # '04 Mar': the short form
        assert widths["reason"] >= 14
        assert sum(w + 2 for w in widths.values()) <= table.size.width


@sync
async def test_vitals_table_beside_the_chart_when_wide(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await open_own_vitals(app, pilot)
        assert isinstance(pane, VitalsPane) and not pane.has_class("-narrow")
        chart = pane.query_one("#vitals-chart-box")
        box = pane.query_one("#vitals-table-box")
        table = pane.query_one("#vitals-table", Table)
        assert box.region.x >= chart.region.right and box.region.y == chart.region.y
        value_width = dict(table._fit_layout or ())["value"]
        pane.query_one("#vitals-metric", Choice).value = "heart_rate"
        await settle(app, pilot)
        assert dict(table._fit_layout or ())["value"] < value_width  # measured again
        await pilot.resize_terminal(80, 24)
        await settle(app, pilot)
        assert pane.has_class("-narrow")


@sync
async def test_audit_names_the_patient_compactly_and_filters_by_it(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.admin")
        admin = app.session
        pid = demo_backend.call(
            lambda s: s.patients.list(admin, query="whitaker").items[0]["id"])
        demo_backend.call(lambda s: s.patients.get(admin, pid))  # audited as an opening
        app.goto("audit")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        table = screen.query_one("#audit-table", DataTable)
        cells = [str(c) for c in table.get_row_at(0)]
        assert "Grace Whitaker" in cells  # the patient by name (the MRN too where wide)
        await pilot.press("p")
        await settle(app, pilot)
        assert screen.filters["patient_id"] == pid
        assert {e.get("patient_id") for e in screen.rows.values()} == {pid}
        await pilot.press("c")
        await settle(app, pilot)
        assert screen.filters["patient_id"] == ""


@sync
async def test_admin_dashboard_hides_the_empty_approvals_table(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.admin")
        await settle(app, pilot)
        screen = app.screen
        assert not screen.query_one("#pending", RecordTable).display
        assert screen.query_one("#pending-empty").display
        assert screen.query_one("#audit", RecordTable).size.height >= 8
