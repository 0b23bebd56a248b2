"""Markup injection: text that people typed (names, reasons, file names, notes, drugs, ...)
is shown exactly as typed on every screen, never read as Rich/Textual markup.

One hostile clinic is created through the services: a doctor, a patient (and their login),
a pending sign-up, an appointment, a prescription and two reports whose text fields hold
markup (``[@click=app.quit]``, ``[b]…[/b]``, ``[link=…]``, a lone ``[``, ``[/]``, ``\\[``,
``[$x]``). Each test walks the screens of one role and checks what is drawn: every hostile
string appears literally, no segment carries a link or a click action, and the app is
still running (an unescaped ``[/]`` raises MarkupError and ends the app).
"""

from __future__ import annotations

from typing import Any

from meditrack_tui.screens.appointments import AppointmentsScreen
from meditrack_tui.screens.audit_log import AuditScreen
from meditrack_tui.screens.dashboard import DashboardScreen
from meditrack_tui.screens.forms.accounts import NewUserScreen
from meditrack_tui.screens.forms.booking import AppointmentForm
from meditrack_tui.screens.forms.confirm import ActionMenu, ConfirmScreen, PromptScreen
from meditrack_tui.screens.forms.patient import PatientFormScreen
from meditrack_tui.screens.forms.prescription import PrescriptionFormScreen
from meditrack_tui.screens.forms.preview import PreviewScreen
from meditrack_tui.screens.forms.upload import UploadReportScreen
from meditrack_tui.screens.lock import LockScreen
from meditrack_tui.screens.patient_detail import PatientScreen
from meditrack_tui.screens.patients import PatientListScreen
from meditrack_tui.screens.profile import ProfileScreen
from meditrack_tui.screens.users import UsersScreen
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Select

from tests.conftest import login_as, settle, sync

PASSWORD = "hostile-password-1"
SIZE = (160, 50)  # wide enough that no hostile value below is cut by a column

DOCTOR = {"username": "dr.hostile", "full_name": "Dr. [b]Bo[/b] [/]\\[q]",
          "specialty": "[@click=app.quit]GP"}
DOCTOR_SHORT = "Dr. [/]\\[q]"  # how narrow doctor columns show the name
PATIENT = {"first_name": "[b]Eve[/b]", "last_name": "[/]Mal\\[x]", "dob": "1980-02-03",
           "sex": "F", "address": "[link=file:///etc/passwd]home[/link]",
           "allergies": ["[@click=app.quit]dust"], "conditions": ["[i]asthma[/i]", "["]}
PATIENT_NAME = "[b]Eve[/b] [/]Mal\\[x]"
PATIENT_LOGIN = {"username": "eve.hostile", "full_name": "[b]Eve[/b] [/] [$x]"}
PENDING = {"username": "dr.pending", "full_name": "[/][b]Pending[/b]",
           "specialty": "[@click=app.quit]x"}
REASON = "[@click=app.quit]cough [/]"
RX = {"drug": "[b]Zed[/b]", "dose": "[/]5 \\[mg", "route": "oral",
      "frequency": "[@click=app.quit]daily", "notes": "[link=file:///etc/passwd]n[/link]"}
TXT_NAME = "[@click=app.quit]lab.txt"
TXT_NOTE = "[b]note[/b] [/]"
CSV_NAME = "[b]t \\[x].csv"  # (no "/": a file name keeps only its last part)
CSV_CELLS = ("[b]h[/b]", "[/]", "[@click=app.quit]c", "\\[d")
BAD_MRN = "[/]mrn-1 [$x]"  # an MRN nobody has (the refusal quotes it)
SEARCH = "[$x]zz"  # typed search text that matches nobody (echoed back in messages)


def make_hostile_clinic(backend: Any, day: str = "2026-03-04") -> dict[str, Any]:
    """Create the hostile records through the services (the visit on ``day`` at 15:00);
    returns them."""

    def build(s: Any) -> dict[str, Any]:
        admin = s.auth.login("demo.admin", "meditrack-demo")
        doctor = s.users.create(admin, username=DOCTOR["username"], password=PASSWORD,
                                role="doctor", full_name=DOCTOR["full_name"])
        s.auth.signup_doctor(PENDING["username"], PASSWORD, full_name=PENDING["full_name"],
                             specialty=PENDING["specialty"])
        me = s.auth.login(DOCTOR["username"], PASSWORD)
        patient = s.patients.create(me, {**PATIENT, "primary_doctor_id": doctor["id"]})
        s.users.create(admin, username=PATIENT_LOGIN["username"], password=PASSWORD,
                       role="patient", full_name=PATIENT_LOGIN["full_name"],
                       patient_id=patient["id"])
        appointment = s.appointments.book(me, {
            "patient_id": patient["id"], "doctor_id": doctor["id"], "date": day,
            "time": "15:00", "duration_min": 20, "reason": REASON})
        rx = s.prescriptions.add(me, patient["id"], dict(RX))
        s.reports.upload_bytes(me, patient["id"], TXT_NAME, b"Cholesterol 5.1 mmol/L\n",
                               kind="lab result", note=TXT_NOTE)
        csv = f"{CSV_CELLS[0]},{CSV_CELLS[1]}\n{CSV_CELLS[2]},{CSV_CELLS[3]}\n".encode()
        s.reports.upload_bytes(me, patient["id"], CSV_NAME, csv, kind="lab result")
        return {"patient": patient, "doctor": doctor, "appointment": appointment, "rx": rx}

    return backend.call(build)


# --- what is on the screen -------------------------------------------------------------


def _shown(widget: Widget) -> bool:
    return all(node.display for node in widget.ancestors_with_self
               if isinstance(node, Widget)) and bool(widget.outer_size.area)


def drawn(app: Any, within: str = "*") -> tuple[str, list[tuple[str, str]]]:
    """The current screen (or the widgets ``within`` selects) as drawn: the text, a line
    per widget, and every segment that carries a link or a click action."""
    texts: list[str] = []
    actions: list[tuple[str, str]] = []
    for widget in app.screen.query(within):
        if not _shown(widget):
            continue
        lines = widget.render_lines(Region(0, 0, *widget.outer_size))
        for strip in lines:
            for segment in strip:
                style = segment.style
                if style is not None and (style.link or "@click" in (style.meta or {})):
                    actions.append((type(widget).__name__, segment.text))
        # one line per widget, whitespace collapsed: a wrapped sentence still matches
        texts.append(" ".join(" ".join(strip.text for strip in lines).split()))
    return "\n".join(texts), actions


def assert_literal(app: Any, *expected: str, within: str = "*") -> None:
    """Each expected string is on the screen (in ``within``) as typed; nothing there is a
    link or an action."""
    assert app.is_running, "the app ended"
    text, actions = drawn(app, within)
    where = type(app.screen).__name__
    for value in expected:
        assert " ".join(value.split()) in text, f"{value!r} is not shown literally on {where}"
    assert not actions, f"links or click actions on {where}: {actions}"


async def wait_screen(app: Any, pilot: Any, cls: type, tries: int = 60) -> Any:
    for _ in range(tries):
        await settle(app, pilot)
        if isinstance(app.screen, cls):
            return app.screen
        await pilot.pause(0.05)
    assert isinstance(app.screen, cls), f"{type(app.screen).__name__} instead of {cls.__name__}"
    return app.screen


async def answer_no(app: Any, pilot: Any, cls: type = ConfirmScreen) -> None:
    await pilot.press("escape")
    await settle(app, pilot)
    assert not isinstance(app.screen, cls)


def select_row(table: DataTable, contains: str) -> None:
    for index in range(table.row_count):
        if any(contains in str(cell) for cell in table.get_row_at(index)):
            table.move_cursor(row=index, animate=False)
            return
    raise AssertionError(f"no row shows {contains!r}")


# --- the walks ---------------------------------------------------------------------------


@sync
async def test_doctor_dashboard_appointments_and_booking_form(make_app, demo_backend):
    make_hostile_clinic(demo_backend)
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login_as(app, pilot, DOCTOR["username"], PASSWORD)
        await wait_screen(app, pilot, DashboardScreen)
        # the welcome toast, the agenda (patient, reason)
        assert_literal(app, f"Welcome, {DOCTOR['full_name']}.", PATIENT_NAME, REASON)
        app.clear_notifications()

        # the search box's "no match" message echoes the typed text
        search = app.screen.query_one("#patient-search", Input)
        search.value = SEARCH
        await settle(app, pilot)
        await pilot.pause(0.2)
        assert_literal(app, f"No patient matches “{SEARCH}”.")
        app.clear_notifications()

        # the agenda: the doctor chosen in the selector, the row; then the cancel question
        await pilot.press("f4")
        screen = await wait_screen(app, pilot, AppointmentsScreen)
        await settle(app, pilot)
        assert_literal(app, DOCTOR["full_name"], PATIENT_NAME, REASON)
        table = screen.query_one("#agenda-table", DataTable)
        table.focus()
        select_row(table, REASON)
        await pilot.press("delete")
        await wait_screen(app, pilot, ConfirmScreen)
        assert_literal(app, f"Cancel the appointment of {PATIENT_NAME} on 04 Mar 2026 at "
                            f"15:00 with {DOCTOR['full_name']}?")
        await answer_no(app, pilot)

        # the list view: doctor and reason columns
        await pilot.press("v")
        await settle(app, pilot)
        assert_literal(app, DOCTOR["full_name"], PATIENT_NAME, REASON)

        # the booking form: the doctor choice, and the message that quotes a typed search
        await pilot.press("ctrl+n")
        form = await wait_screen(app, pilot, AppointmentForm)
        assert_literal(app, DOCTOR["full_name"])
        box = form.query_one("#patient-search", Input)
        box.focus()
        box.value = SEARCH
        await settle(app, pilot)
        await pilot.pause(0.2)
        await pilot.press("enter")
        await settle(app, pilot)
        assert_literal(app, f"No patient matches “{SEARCH}”.")
        assert app.is_running


@sync
async def test_patient_list_record_and_its_tabs(make_app, demo_backend):
    made = make_hostile_clinic(demo_backend)
    mrn = made["patient"]["mrn"]
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login_as(app, pilot, DOCTOR["username"], PASSWORD)
        app.clear_notifications()
        await pilot.press("f3")
        screen = await wait_screen(app, pilot, PatientListScreen)
        screen.query_one("#pl-search", Input).value = mrn
        await settle(app, pilot)
        await pilot.pause(0.2)
        await settle(app, pilot)
        # the list: name, primary doctor (short form), conditions
        assert_literal(app, PATIENT_NAME, DOCTOR_SHORT, "[i]asthma[/i], [")

        screen.open_patient(made["patient"]["id"])
        record = await wait_screen(app, pilot, PatientScreen)
        await settle(app, pilot)
        # header and overview
        assert_literal(app, PATIENT_NAME, PATIENT["address"], PATIENT["allergies"][0],
                       "[i]asthma[/i], [", DOCTOR["full_name"],
                       f"{RX['drug']} {RX['dose']} {RX['frequency']}")

        # the edit form: its title names the patient; the doctor choice shows the doctor
        await pilot.press("ctrl+e")
        await wait_screen(app, pilot, PatientFormScreen)
        assert_literal(app, f"Edit {PATIENT_NAME} ({mrn})", DOCTOR["full_name"])
        await pilot.press("escape")
        await wait_screen(app, pilot, PatientScreen)

        # prescriptions: the table and the detail line, the change form, the stop question
        await pilot.press("3")
        await settle(app, pilot)
        await pilot.pause(0.2)
        await settle(app, pilot)
        assert_literal(app, RX["drug"], RX["dose"], RX["frequency"], RX["notes"],
                       f"prescribed by {DOCTOR['full_name']}")
        await pilot.press("enter")
        await wait_screen(app, pilot, PrescriptionFormScreen)
        assert_literal(app, f"Change {RX['drug']} {RX['dose']}")
        await pilot.press("escape")
        await wait_screen(app, pilot, PatientScreen)
        await pilot.press("delete")
        await wait_screen(app, pilot, PromptScreen)
        assert_literal(app, f"Stop {RX['drug']} {RX['dose']}")
        await answer_no(app, pilot, PromptScreen)

        # reports: the table and the detail line, previews, the delete question
        await pilot.press("4")
        await settle(app, pilot)
        await pilot.pause(0.2)
        await settle(app, pilot)
        table = record.query_one("#reports-table", DataTable)
        table.focus()
        select_row(table, TXT_NAME)
        await settle(app, pilot)
        assert_literal(app, TXT_NAME, CSV_NAME, TXT_NOTE, f"{TXT_NAME} · uploaded by")
        await pilot.press("p")
        await wait_screen(app, pilot, PreviewScreen)
        assert_literal(app, f"{TXT_NAME} · lab result", TXT_NOTE)
        await pilot.press("escape")
        await wait_screen(app, pilot, PatientScreen)
        select_row(table, CSV_NAME)
        await pilot.press("p")
        await wait_screen(app, pilot, PreviewScreen)
        assert_literal(app, CSV_NAME, *CSV_CELLS)
        await pilot.press("escape")
        await wait_screen(app, pilot, PatientScreen)
        select_row(table, TXT_NAME)
        await pilot.press("delete")
        await wait_screen(app, pilot, PromptScreen)
        assert_literal(app, f"Delete the report {TXT_NAME}?")
        await pilot.press("escape")
        await wait_screen(app, pilot, PatientScreen)
        # the upload form lists the inbox's files by their names, as named
        inbox = app.backend.config.data_dir / "inbox" / app.session.username
        inbox.mkdir(parents=True, exist_ok=True)
        (inbox / TXT_NAME).write_bytes(b"Cholesterol 5.1 mmol/L\n")
        await pilot.press("ctrl+n")
        await wait_screen(app, pilot, UploadReportScreen)
        await settle(app, pilot)
        assert_literal(app, TXT_NAME)
        await pilot.press("escape")
        await wait_screen(app, pilot, PatientScreen)

        # appointments: doctor and reason
        await pilot.press("5")
        await settle(app, pilot)
        await pilot.pause(0.2)
        await settle(app, pilot)
        assert_literal(app, DOCTOR["full_name"], REASON)


@sync
async def test_admin_dashboard_users_and_audit(make_app, demo_backend):
    make_hostile_clinic(demo_backend)
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login_as(app, pilot, "demo.admin")
        screen = await wait_screen(app, pilot, DashboardScreen)
        app.clear_notifications()
        # waiting sign-ups and recent activity; then the reject question
        assert_literal(app, PENDING["full_name"], PENDING["specialty"])
        pending = screen.query_one("#pending", DataTable)
        pending.focus()
        select_row(pending, PENDING["full_name"])
        screen.action_reject()  # from its menu (Enter); the question quotes the name
        await wait_screen(app, pilot, ConfirmScreen)
        assert_literal(app, f"Reject the sign-up of {PENDING['full_name']} "
                            f"({PENDING['username']})?")
        await answer_no(app, pilot)

        # users: the detail panel beside the table, the actions menu's title
        await pilot.press("f7")
        users = await wait_screen(app, pilot, UsersScreen)
        users.table.focus()
        select_row(users.table, DOCTOR["username"])
        await settle(app, pilot)
        assert_literal(app, DOCTOR["full_name"])
        assert_literal(app, DOCTOR["username"], f"Name {DOCTOR['full_name']}",
                       within="#user-detail")
        await pilot.press("enter")
        await wait_screen(app, pilot, ActionMenu)
        assert_literal(app, f"{DOCTOR['username']} · {DOCTOR['full_name']}")
        await pilot.press("escape")
        await wait_screen(app, pilot, UsersScreen)
        # the narrow layout puts the detail under the table
        await pilot.resize_terminal(100, 40)
        await settle(app, pilot)
        await pilot.pause(0.1)
        assert_literal(app, f"{DOCTOR['username']} · {DOCTOR['full_name']}",
                       within="#user-detail")
        await pilot.resize_terminal(*SIZE)
        await settle(app, pilot)

        # the new-user form: the service's refusal quotes the MRN as typed
        await pilot.press("ctrl+n")
        form = await wait_screen(app, pilot, NewUserScreen)
        for name, value in (("username", "new.hostile"), ("full_name", "New Person"),
                            ("patient_mrn", BAD_MRN), ("password", PASSWORD),
                            ("password2", PASSWORD)):
            form.query_one(f"#new-{name}", Input).value = value
        form.query_one("#new-role", Select).value = "patient"
        await settle(app, pilot)
        form.query_one("#create", Button).press()
        await settle(app, pilot)
        await pilot.pause(0.2)
        await settle(app, pilot)
        assert_literal(app, f"No patient record has the MRN {BAD_MRN.upper()}.")
        await pilot.press("escape")
        await wait_screen(app, pilot, UsersScreen)

        # the audit log: an entry's detail quotes the prescription
        await pilot.press("f8")
        audit = await wait_screen(app, pilot, AuditScreen)
        audit.table.focus()
        select_row(audit.table, f"{RX['drug']} {RX['dose']}")
        await settle(app, pilot)
        assert_literal(app, f"{RX['drug']} {RX['dose']}")
        assert_literal(app, f"{RX['drug']} {RX['dose']}", within="#audit-detail")


@sync
async def test_patient_dashboard_profile_and_lock(make_app, demo_backend):
    make_hostile_clinic(demo_backend)
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await login_as(app, pilot, PATIENT_LOGIN["username"], PASSWORD)
        await wait_screen(app, pilot, DashboardScreen)
        await settle(app, pilot)
        # the welcome toast; upcoming visit (doctor, reason), prescriptions, reports
        assert_literal(app, f"Welcome, {PATIENT_LOGIN['full_name']}.", DOCTOR["full_name"],
                       REASON, RX["drug"], RX["dose"], TXT_NAME)
        app.clear_notifications()

        await pilot.press("f6")
        await wait_screen(app, pilot, ProfileScreen)
        await settle(app, pilot)
        assert_literal(app, PATIENT_LOGIN["username"])

        await pilot.press("f9")
        await wait_screen(app, pilot, LockScreen)
        assert_literal(app, f"Locked for {PATIENT_LOGIN['full_name']}.")


def test_every_notification_is_plain_text():
    """A toast reads its message as markup unless told not to: every notify() call in the
    UI says markup=False (messages quote names, file names and typed text)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    missing = []
    for path in sorted((root / "screens").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "notify":
                markup = next((k.value for k in node.keywords if k.arg == "markup"), None)
                if not (isinstance(markup, ast.Constant) and markup.value is False):
                    missing.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not missing, f"notify() without markup=False: {missing}"
