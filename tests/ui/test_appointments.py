"""The Appointments screen, the booking / reschedule form and the patient's appointments pane."""

from __future__ import annotations

from datetime import date, datetime

from textual.screen import Screen
from textual.widgets import Input, Select, Static

from tests.conftest import notices, sync

try:
    from tests.conftest import FIXED_NOW, answer_discard, login_as, settle
except ImportError:  # tests/ is not a package
    from conftest import FIXED_NOW, answer_discard, login_as, settle
from meditrack_tui.screens.appointments import AppointmentsScreen
from meditrack_tui.screens.forms.booking import AppointmentForm
from meditrack_tui.screens.forms.confirm import ConfirmScreen
from meditrack_tui.screens.messages import DataChanged
from meditrack_tui.screens.widgets.appointment_table import AppointmentTable
from meditrack_tui.screens.widgets.patient_appointments import PatientAppointmentsPane

PASSWORD = "meditrack-demo"
TODAY = FIXED_NOW.date()




def rows(table: AppointmentTable) -> list[dict]:
    return [table.records[str(row.key.value)] for row in table.ordered_rows]


def text_of(widget: Static) -> str:
    return str(widget.render()) if widget.display else ""


def call_as(backend, username: str, fn):
    """Run ``fn(services, session)`` as ``username`` straight on the store (outside the UI)."""
    def run(s):
        return fn(s, s.auth.login(username, PASSWORD))
    return backend.call(run)


def patient_id(backend, query: str) -> str:
    return call_as(backend, "demo.doctor",
                   lambda s, me: s.patients.list(me, query=query, page_size=1).items[0]["id"])


async def open_appointments(app, pilot, username: str) -> AppointmentsScreen:
    await login_as(app, pilot, username)
    await pilot.press("f4")
    await settle(app, pilot)
    await settle(app, pilot)
    assert isinstance(app.screen, AppointmentsScreen)
    app.clear_notifications()
    return app.screen


async def open_form(app, pilot) -> AppointmentForm:
    await pilot.press("ctrl+n")
    await settle(app, pilot)
    assert isinstance(app.screen, AppointmentForm)
    return app.screen


async def fill(pilot, form: AppointmentForm, **values: str) -> None:
    for field, value in values.items():
        form.query_one(f"#{field}", Input).value = value
    await pilot.pause()


async def choose(app, pilot, form: AppointmentForm, day: str, time: str) -> None:
    """Choose a free time in the form's slot picker (it must be offered)."""
    from meditrack_tui.screens.forms.slots import SlotPicker

    await settle(app, pilot)
    assert form.query_one(SlotPicker).choose(date.fromisoformat(day), time), \
        f"{day} {time} is not offered"
    await pilot.pause()


async def pick_patient(app, pilot, form: AppointmentForm, query: str) -> None:
    form.query_one("#patient-search", Input).focus()
    await pilot.press(*query)
    await settle(app, pilot)
    await pilot.press("enter")
    await settle(app, pilot)
    assert form.picked is not None


# --- the agenda ------------------------------------------------------------------------------

@sync
async def test_doctor_agenda_today_and_day_navigation(make_app, demo_backend):
    def count(day: date) -> int:
        return call_as(demo_backend, "demo.doctor",
                       lambda s, me: len(s.appointments.day_agenda(me, me.user_id,
                                                                   day.isoformat())))

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_appointments(app, pilot, "demo.doctor")
        table = screen.query_one("#agenda-table", AppointmentTable)
        assert len(rows(table)) == 7
        assert all(r["day"] == "2026-03-04" for r in rows(table))
        assert [r["start"] for r in rows(table)] == sorted(r["start"] for r in rows(table))
        assert "Wednesday 04 March 2026  (today)" in text_of(screen.query_one("#agenda-day"))
        assert "7 appointments" in text_of(screen.query_one("#agenda-summary"))

        await pilot.press("n")
        await settle(app, pilot)
        assert screen.day == date(2026, 3, 5)
        assert "Thursday 05 March 2026" in text_of(screen.query_one("#agenda-day"))
        assert len(rows(table)) == count(date(2026, 3, 5))
        assert all(r["day"] == "2026-03-05" for r in rows(table))

        await pilot.press("p", "p")
        await settle(app, pilot)
        assert screen.day == date(2026, 3, 3)
        assert len(rows(table)) == count(date(2026, 3, 3))

        await pilot.press("t")
        await settle(app, pilot)
        assert screen.day == TODAY and len(rows(table)) == 7

        # a booking made in another session shows once DataChanged arrives
        grace = patient_id(demo_backend, "whitaker")
        call_as(demo_backend, "demo.admin",
                lambda s, me: s.appointments.book(me, {
                    "patient_id": grace, "doctor_id": app.session.user_id,
                    "date": "2026-03-04", "time": "17:00", "reason": "Booked elsewhere"}))
        screen.post_message(DataChanged(frozenset({"appointments"})))
        await settle(app, pilot)
        assert len(rows(table)) == 8 and rows(table)[-1]["reason"] == "Booked elsewhere"


@sync
async def test_go_to_date_and_admin_doctor_selector(make_app, demo_backend):
    doctors = call_as(demo_backend, "demo.admin", lambda s, me: s.users.doctors(me))
    hartwell = next(d["id"] for d in doctors if d["username"] == "demo.doctor")
    # the doctors before Dr. Hartwell (by name) have nothing open today: their visits
    # today are cancelled
    before = [d for d in doctors[:[d["id"] for d in doctors].index(hartwell)]]
    for doctor in before:
        for appt in call_as(demo_backend, "demo.admin",
                            lambda s, me, doctor=doctor: s.appointments.day_agenda(
                                me, doctor["id"], "2026-03-04")):
            if appt["status"] == "scheduled":
                call_as(demo_backend, "demo.admin", lambda s, me, appt=appt: s.appointments.cancel(
                    me, appt["id"], version=appt["version"]))
    assert before, "the demo clinic lists another doctor before Dr. Hartwell"
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_appointments(app, pilot, "demo.admin")
        select = screen.query_one("#agenda-doctor", Select)
        table = screen.query_one("#agenda-table", AppointmentTable)
        # the agenda opens on a doctor with appointments today (not the first by name)
        assert screen.agenda_doctor == select.value == hartwell
        assert len(rows(table)) == 7
        assert {r["doctor_name"] for r in rows(table)} == {"Dr. Maya Hartwell"}
        select.value = doctors[0]["id"]
        await settle(app, pilot)
        assert {r["doctor_name"] for r in rows(table)} <= {doctors[0]["full_name"]}
        select.value = hartwell
        await settle(app, pilot)
        assert len(rows(table)) == 7

        await pilot.press("g")
        await settle(app, pilot)
        prompt = app.screen.query_one("#prompt-input", Input)
        prompt.value = "2026-03-05"
        await pilot.press("enter")
        await settle(app, pilot)
        assert screen.day == date(2026, 3, 5)
        assert all(r["day"] == "2026-03-05" for r in rows(table))


async def pick(app, pilot, action: str) -> None:
    """Enter on the selected appointment opens its menu (no letter changes one): run
    ``action`` there."""
    from meditrack_tui.screens.forms.confirm import ActionMenu
    from textual.widgets import OptionList

    await pilot.press("enter")
    await settle(app, pilot)
    menu = app.screen
    assert isinstance(menu, ActionMenu), menu
    menu.query_one(OptionList).highlighted = [a for a, _label in menu.actions].index(action)
    await pilot.pause()
    await pilot.press("enter")
    await settle(app, pilot)


@sync
async def test_status_keys_and_cancel_with_confirmation(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_appointments(app, pilot, "demo.doctor")
        table = screen.query_one("#agenda-table", AppointmentTable)
        first = rows(table)[0]
        await pilot.press("i", "d")  # letters change nothing
        await settle(app, pilot)
        assert rows(table)[0]["status"] == "scheduled"
        await pick(app, pilot, "checked-in")
        assert rows(table)[0]["status"] == "checked-in"
        await pick(app, pilot, "completed")
        assert rows(table)[0]["status"] == "completed"
        stored = call_as(demo_backend, "demo.doctor",
                         lambda s, me: s.appointments.get(me, first["id"]))
        assert stored["status"] == "completed"
        # a completed visit cannot be checked in: its menu does not offer it
        assert [a for a, _l in table.actions_for(rows(table)[0])] == ["open"]

        await pilot.press("down")
        await pick(app, pilot, "no-show")
        assert rows(table)[1]["status"] == "no-show"

        # cancelling asks first
        third = rows(table)[2]
        await pilot.press("down", "delete")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert third["patient_name"] in text_of(app.screen.query_one(".question", Static))
        await pilot.press("n")  # letters never answer a confirmation
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await settle(app, pilot)
        assert rows(table)[2]["status"] == "scheduled"
        await pilot.press("delete")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert rows(table)[2]["status"] == "cancelled"
        stored = call_as(demo_backend, "demo.doctor",
                         lambda s, me: s.appointments.get(me, third["id"]))
        assert stored["status"] == "cancelled"


# --- the list --------------------------------------------------------------------------------

@sync
async def test_list_view_filters_and_pages(make_app, demo_backend):
    total = call_as(demo_backend, "demo.doctor",
                    lambda s, me: s.appointments.list(me, page_size=1).total)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_appointments(app, pilot, "demo.doctor")
        await pilot.press("ctrl+l")
        await settle(app, pilot)
        assert screen.view == "list"
        table = screen.query_one("#list-table", AppointmentTable)
        # from today on, earliest first
        assert rows(table) and all(r["start"].date() >= TODAY for r in rows(table))
        assert [r["start"] for r in rows(table)] == sorted(r["start"] for r in rows(table))

        screen.query_one("#f-status", Select).value = "completed"
        await settle(app, pilot)
        assert rows(table) == [] or {r["status"] for r in rows(table)} == {"completed"}

        screen.query_one("#f-status", Select).clear()
        screen.query_one("#f-from", Input).value = ""
        await settle(app, pilot)
        assert f"{total} appointments" in text_of(screen.query_one("#list-pager"))
        assert "newest first" in text_of(screen.query_one("#list-pager"))
        assert len(rows(table)) == min(total, 50)
        assert total > 50  # the demo clinic has more than one page
        table.focus()
        await pilot.press("pagedown")
        await settle(app, pilot)
        assert screen.page == 2 and len(rows(table)) == min(total - 50, 50)
        assert f"Page 2 of {-(-total // 50)}" in text_of(screen.query_one("#list-pager"))
        await pilot.press("pageup")
        await settle(app, pilot)
        assert screen.page == 1

        screen.query_one("#f-from", Input).value = "04/03/2026"
        await settle(app, pilot)
        assert "YYYY-MM-DD" in text_of(screen.query_one("#err-filters"))

        screen.query_one("#f-from", Input).value = ""
        screen.query_one("#f-query", Input).value = "grace"
        await settle(app, pilot)
        assert rows(table) and {r["patient_name"] for r in rows(table)} == {"Grace Whitaker"}


# --- booking ---------------------------------------------------------------------------------

@sync
async def test_book_through_the_form(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_appointments(app, pilot, "demo.doctor")
        form = await open_form(app, pilot)
        # the agenda's doctor and day are the defaults
        assert form.query_one("#doctor", Select).value == app.session.user_id
        await pick_patient(app, pilot, form, "whitaker")
        assert form.picked["name"] == "Grace Whitaker"
        await choose(app, pilot, form, "2026-03-04", "16:30")
        await fill(pilot, form, reason="Foot check")
        form.query_one("#reason", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is screen
        table = screen.query_one("#agenda-table", AppointmentTable)
        assert len(rows(table)) == 8
        assert table.selected["reason"] == "Foot check"  # the cursor is on the new booking
        stored = call_as(demo_backend, "demo.doctor",
                         lambda s, me: s.appointments.day_agenda(me, me.user_id, "2026-03-04"))
        new = [a for a in stored if a["reason"] == "Foot check"]
        assert len(new) == 1 and new[0]["patient_name"] == "Grace Whitaker"
        assert f"{new[0]['start']:%H:%M}" == "16:30" and new[0]["duration_min"] == 20


@sync
async def test_the_form_offers_free_times_and_books_one_by_keyboard(make_app, demo_backend):
    """The booking form lists the doctor's free times of the chosen day (no typing of dates
    or times): the agenda's bookings are not offered, and Down, Enter pick a time."""
    from meditrack_tui.screens.forms.slots import SlotPicker

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_appointments(app, pilot, "demo.doctor")
        form = await open_form(app, pilot)
        assert not form.query("#date") and not form.query("#time")  # nothing to type
        await pick_patient(app, pilot, form, "whitaker")
        await settle(app, pilot)
        picker = form.query_one(SlotPicker)
        today = picker.days[TODAY]
        offered = [f"{t:%H:%M}" for t in today.times]
        # 10:00 is now; 10:20-10:40 and 11:15-11:35 are booked
        assert offered[:4] == ["10:00", "10:45", "11:45", "12:00"]
        assert picker.chosen == (TODAY, "10:00")
        # a longer visit: the times are asked for again
        form.query_one("#duration_min", Input).value = "45"
        await settle(app, pilot)
        assert [f"{t:%H:%M}" for t in picker.days[TODAY].times][:2] == ["11:45", "12:00"]
        form.query_one("#duration_min", Input).value = "20"
        await settle(app, pilot)
        assert picker.chosen == (TODAY, "11:45")  # the time in view stays chosen
        # keyboard: the list of times, Down twice, Enter goes on to the reason
        form.query_one("#slot").focus()
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert picker.chosen == (TODAY, "12:15")
        assert form.focused is form.query_one("#reason")
        await pilot.press(*"Knee", "enter")
        await settle(app, pilot)
        assert app.screen is screen
        stored = call_as(demo_backend, "demo.doctor",
                         lambda s, me: s.appointments.day_agenda(me, me.user_id, "2026-03-04"))
        new = [a for a in stored if a["reason"] == "Knee"]
        assert len(new) == 1 and f"{new[0]['start']:%H:%M}" == "12:15"


@sync
async def test_the_day_list_stops_asking_for_a_doctor_once_one_is_chosen(make_app, demo_backend):
    """Seen with tui-drive: the day list of a doctor's free days still began with
    "choose a doctor first" after the doctor was chosen."""
    from textual.widgets import Select

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_appointments(app, pilot, "demo.doctor")
        form = await open_form(app, pilot)
        await pick_patient(app, pilot, form, "whitaker")
        await settle(app, pilot)
        assert not form.query_one("#doctor", Select).is_blank()
        day = form.query_one("#day", Select)
        assert day.prompt == "choose a day"
        form.query_one("#doctor", Select).clear()
        await settle(app, pilot)
        assert day.prompt == "choose a doctor first"


@sync
async def test_double_booking_is_refused_inline(make_app, demo_backend):
    """A time taken by someone else while the form was open is refused by the service,
    inline, and the form then offers only what is still free."""
    from meditrack_tui.screens.forms.slots import SlotPicker

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_appointments(app, pilot, "demo.doctor")
        form = await open_form(app, pilot)
        await pick_patient(app, pilot, form, "whitaker")
        await choose(app, pilot, form, "2026-03-04", "16:30")
        await fill(pilot, form, reason="Extra")
        other = patient_id(demo_backend, "reyes")
        call_as(demo_backend, "demo.admin",
                lambda s, me: s.appointments.book(me, {
                    "patient_id": other, "doctor_id": app.session.user_id,
                    "date": "2026-03-04", "time": "16:30", "reason": "Booked elsewhere"}))
        form.query_one("#reason", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is form
        error = text_of(form.query_one("#err-time", Static))
        assert "already has an appointment 16:30-16:50" in error
        assert form.focused is form.query_one("#slot")
        offered = [f"{t:%H:%M}" for t in form.query_one(SlotPicker).days[TODAY].times]
        assert "16:30" not in offered and "16:15" not in offered and "16:45" not in offered
        stored = call_as(demo_backend, "demo.doctor",
                         lambda s, me: s.appointments.day_agenda(me, me.user_id, "2026-03-04"))
        assert [a["reason"] for a in stored].count("Extra") == 0


@sync
async def test_form_checks_formats_and_guards_unsaved_changes(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_appointments(app, pilot, "demo.doctor")
        form = await open_form(app, pilot)
        await fill(pilot, form, duration_min="2")
        form.query_one("#duration_min", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert "Pick a patient" in text_of(form.query_one("#err-patient_id", Static))
        assert "5 to 240" in text_of(form.query_one("#err-duration_min", Static))
        assert "reason" in text_of(form.query_one("#err-reason", Static))
        assert form.focused is form.query_one("#patient-search")
        assert app.screen is form

        # Escape with unsaved changes asks first; without changes it just closes
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "Discard your changes?" in text_of(app.screen.query_one(".question", Static))
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is form and form.query_one("#duration_min", Input).value == "2"
        await pilot.press("escape")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is screen
        await open_form(app, pilot)
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is screen


@sync
async def test_reschedule_and_a_stale_version_conflict(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_appointments(app, pilot, "demo.doctor")
        table = screen.query_one("#agenda-table", AppointmentTable)
        first = rows(table)[0]
        await pick(app, pilot, "reschedule")
        form = app.screen
        assert isinstance(form, AppointmentForm)
        assert str(form.query_one("#patient-fixed", Static).render()) == first["patient_name"]
        await settle(app, pilot)
        from meditrack_tui.screens.forms.slots import SlotPicker
        assert form.query_one(SlotPicker).chosen == (TODAY, f"{first['start']:%H:%M}") \
            or first["start"] < datetime(2026, 3, 4, 10, 0)  # a past time is not offered
        await choose(app, pilot, form, "2026-03-04", "16:00")
        assert form.has_unsaved_changes
        form.query_one("#reason", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is screen
        moved = call_as(demo_backend, "demo.doctor",
                        lambda s, me: s.appointments.get(me, first["id"]))
        assert f"{moved['start']:%H:%M}" == "16:00" and moved["version"] == first["version"] + 1
        assert rows(table)[-1]["id"] == first["id"]  # now the last of the day

        # someone else changes the next one while our form is open
        second = rows(table)[0]
        table.move_cursor(row=0)
        await pick(app, pilot, "reschedule")
        form = app.screen
        call_as(demo_backend, "demo.admin",
                lambda s, me: s.appointments.set_status(me, second["id"], "checked-in",
                                                        version=second["version"]))
        await choose(app, pilot, form, "2026-03-04", "17:00")
        form.query_one("#reason", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is form
        message = text_of(form.query_one("#err-form", Static))
        assert "demo.admin changed this appointment" in message
        assert "Checked in" in message
        unchanged = call_as(demo_backend, "demo.doctor",
                            lambda s, me: s.appointments.get(me, second["id"]))
        assert unchanged["start"] == second["start"]


# --- patients --------------------------------------------------------------------------------

@sync
async def test_patient_sees_only_own_appointments(make_app, demo_backend):
    own = call_as(demo_backend, "demo.patient",
                  lambda s, me: s.appointments.list(me, patient_id=me.patient_id,
                                                    page_size=100))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_appointments(app, pilot, "demo.patient")
        assert not screen.query("#views") and not screen.query("#agenda-table")
        assert not screen.query("#f-query")
        table = screen.query_one("#list-table", AppointmentTable)
        screen.query_one("#f-from", Input).value = ""
        await settle(app, pilot)
        assert len(rows(table)) == own.total > 1
        assert {r["patient_name"] for r in rows(table)} == {"Daniel Reyes"}
        # patients may cancel and book, not check in, reschedule or open records
        assert table.check_action("cancel_appointment", ()) is True
        assert [a for a, _l in table.actions_for(rows(table)[0])] in (["cancel"], [])
        assert not screen.check_action("prev_day", ())
        assert not screen.check_action("toggle_view", ())
        table.focus()
        await pilot.press("i", "r")
        await settle(app, pilot)
        assert app.screen is screen
        assert {r["status"] for r in rows(table)} == {a["status"] for a in own.items}


@sync
async def test_patient_books_and_cancels_own_but_not_for_another(make_app, demo_backend):
    doctors = call_as(demo_backend, "demo.patient", lambda s, me: s.users.doctors(me))
    other = patient_id(demo_backend, "whitaker")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_appointments(app, pilot, "demo.patient")
        form = await open_form(app, pilot)
        # fixed to themselves: no patient search at all
        assert not form.query("#patient-search")
        assert str(form.query_one("#patient-fixed", Static).render()) == "Daniel Reyes"
        form.query_one("#doctor", Select).value = doctors[0]["id"]
        await settle(app, pilot)
        await choose(app, pilot, form, "2026-03-20", "11:00")
        await fill(pilot, form, reason="Repeat prescription")
        form.query_one("#reason", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is screen
        table = screen.query_one("#list-table", AppointmentTable)
        booked = table.selected
        assert booked["reason"] == "Repeat prescription"
        assert booked["patient_name"] == "Daniel Reyes"

        await pilot.press("delete")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        stored = call_as(demo_backend, "demo.patient",
                         lambda s, me: s.appointments.get(me, booked["id"]))
        assert stored["status"] == "cancelled"

        # even a tampered form cannot book for somebody else: the service refuses, inline
        form = await open_form(app, pilot)
        form.fixed_patient_id = other
        form.query_one("#doctor", Select).value = doctors[0]["id"]
        await settle(app, pilot)
        await choose(app, pilot, form, "2026-03-21", "11:00")
        await fill(pilot, form, reason="Not mine")
        form.query_one("#reason", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is form
        assert "only see and change your own" in text_of(form.query_one("#err-form", Static))
    mine = call_as(demo_backend, "demo.doctor",
                   lambda s, me: s.appointments.list(me, patient_id=other, query="not mine"))
    assert mine.total == 0


# --- the pane for the patient screen ---------------------------------------------------------

class PaneHost(Screen):
    """A bare screen holding the pane, as the patient screen embeds it."""

    def __init__(self, pid: str) -> None:
        super().__init__()
        self.pid = pid

    def compose(self):
        yield PatientAppointmentsPane(self.pid)


@sync
async def test_patient_appointments_pane(make_app, demo_backend):
    grace = patient_id(demo_backend, "whitaker")
    total = call_as(demo_backend, "demo.doctor",
                    lambda s, me: s.appointments.list(me, patient_id=grace).total)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        await app.push_screen(PaneHost(grace))
        await settle(app, pilot)
        pane = app.screen.query_one(PatientAppointmentsPane)
        assert pane.WATCHES == frozenset({"appointments"})
        table = pane.query_one(AppointmentTable)
        assert len(rows(table)) == total > 0
        assert [r["start"] for r in rows(table)] == sorted((r["start"] for r in rows(table)),
                                                          reverse=True)
        # already on this patient's record: its menu does not offer to open it
        assert all("open" not in [a for a, _l in table.actions_for(r)] for r in rows(table))
        table.focus()
        form = await open_form(app, pilot)
        assert str(form.query_one("#patient-fixed", Static).render()) == "Grace Whitaker"
        await choose(app, pilot, form, "2026-03-10", "12:00")
        await fill(pilot, form, reason="Pane booking")
        form.query_one("#reason", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert len(rows(table)) == total + 1
        assert table.selected["reason"] == "Pane booking"
        assert f"{total + 1} appointments, newest first" in text_of(
            pane.query_one("#pane-summary", Static))


class ReadyHost(PaneHost):
    """The pane's host, noting the table's row count when each Ready arrives."""

    def __init__(self, pid: str) -> None:
        super().__init__(pid)
        self.ready: list[int] = []

    def on_patient_appointments_pane_ready(self,
                                           message: PatientAppointmentsPane.Ready) -> None:
        self.ready.append(self.query_one(AppointmentTable).row_count)


@sync
async def test_the_pane_says_ready_once_its_first_page_is_shown(make_app, demo_backend):
    """Ready comes once, with the first page in the table (the patient screen then puts
    the focus on it); a re-fetch does not send it again."""
    grace = patient_id(demo_backend, "whitaker")
    total = call_as(demo_backend, "demo.doctor",
                    lambda s, me: s.appointments.list(me, patient_id=grace).total)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        host = ReadyHost(grace)
        await app.push_screen(host)
        await settle(app, pilot)
        assert host.ready == [total] and total > 0
        host.query_one(PatientAppointmentsPane).reload()
        await settle(app, pilot)
        assert host.ready == [total]


@sync
async def test_a_failed_first_page_still_says_ready_and_why(make_app, demo_backend):
    """The first page cannot be fetched: the pane still posts Ready (its table can take
    the focus), and the reason is a notification."""
    from meditrack_tui.errors import MediTrackError

    grace = patient_id(demo_backend, "whitaker")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        await settle(app, pilot)
        app.clear_notifications()

        def refuse(fn, **kwargs):
            raise MediTrackError("The appointments are not available right now.")

        demo_backend.call = refuse
        host = ReadyHost(grace)
        await app.push_screen(host)
        await settle(app, pilot)
        assert host.ready == [0]
        assert [n.message for n in notices(app)] == [
            "The appointments are not available right now."]


# --- snapshot --------------------------------------------------------------------------------

def test_snapshot_agenda(make_app, snap_compare):
    app = make_app()

    async def run_before(pilot) -> None:
        await open_appointments(app, pilot, "demo.doctor")
        app.clear_notifications()
        await settle(app, pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@sync
async def test_enter_before_the_patient_search_answers_picks_when_it_does(make_app,
                                                                          demo_backend):
    import threading

    gate = threading.Event()
    gate.set()
    real_call = demo_backend.call

    def gated_call(fn, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            gate.wait(10)  # service workers wait while the gate is closed
        return real_call(fn, **kwargs)

    demo_backend.call = gated_call
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_appointments(app, pilot, "demo.doctor")
        form = await open_form(app, pilot)
        form.query_one("#patient-search", Input).focus()
        gate.clear()
        await pilot.press(*"whitaker", "enter")  # before the search has answered
        await pilot.pause()
        assert form.picked is None
        assert not text_of(form.query_one("#err-patient_id", Static))  # no misleading error
        gate.set()
        await settle(app, pilot)
        assert form.picked is not None and form.picked["name"] == "Grace Whitaker"
        assert form.focused is form.query_one("#doctor")
        assert not text_of(form.query_one("#err-patient_id", Static))

        # no match: said once the search answers, naming what was typed
        search = form.query_one("#patient-search", Input)
        search.focus()
        search.value = ""
        gate.clear()
        await pilot.press(*"zzqx", "enter")
        await pilot.pause()
        assert not text_of(form.query_one("#err-patient_id", Static))
        gate.set()
        await settle(app, pilot)
        assert form.picked is None
        assert "No patient matches “zzqx”" in text_of(form.query_one("#err-patient_id", Static))

        # too short to search: the hint comes at once
        search.value = "z"
        await pilot.press("enter")
        await settle(app, pilot)
        assert "at least two letters" in text_of(form.query_one("#err-patient_id", Static))


@sync
async def test_booking_form_asks_before_global_keys_discard_it(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_appointments(app, pilot, "demo.doctor")
        form = await open_form(app, pilot)
        assert not form.has_unsaved_changes
        await fill(pilot, form, reason="Follow-up")
        assert form.has_unsaved_changes
        for key in ("f2", "f10"):
            await answer_discard(app, pilot, key, "n")
            assert app.screen is form and form.query_one("#reason", Input).value == "Follow-up"
        await pilot.press("f2")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "DashboardScreen"


@sync
async def test_the_agenda_summary_follows_a_change_at_once(make_app):
    """The summary line counted the statuses only once the agenda was fetched again
    (about a second later on a busy machine): it follows the changed row at once."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_appointments(app, pilot, "demo.doctor")
        assert "cancelled" not in text_of(screen.query_one("#agenda-summary"))
        screen.reload = lambda: None  # no fetch after the change: only the row is known
        await pilot.press("delete")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert rows(screen.query_one("#agenda-table", AppointmentTable))[0]["status"] \
            == "cancelled"
        assert "1 cancelled" in text_of(screen.query_one("#agenda-summary"))
