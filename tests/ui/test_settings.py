"""The clinic settings screen (admins, from the users screen by Ctrl+G), a doctor's working
hours, and the booking form showing the new refusals (hours, limit) inline."""

from __future__ import annotations

from datetime import date

from meditrack_tui.screens.forms.confirm import ConfirmScreen
from meditrack_tui.screens.forms.doctor_hours import DoctorHoursScreen
from meditrack_tui.screens.forms.slots import SlotPicker
from meditrack_tui.screens.messages import OpenPatient
from meditrack_tui.screens.settings import SettingsScreen
from meditrack_tui.screens.users import UsersScreen
from textual.widgets import Input, Select, Static

from tests.conftest import login_as, settle, sync
from tests.ui.test_appointments import (
    call_as,
    fill,
    open_appointments,
    open_form,
    pick_patient,
    text_of,
)


async def open_settings(app, pilot) -> SettingsScreen:
    await login_as(app, pilot, "demo.admin")
    await pilot.press("f7")
    await settle(app, pilot)
    assert isinstance(app.screen, UsersScreen)
    footer = " ".join(b.binding.description for b in app.screen.active_bindings.values()
                      if b.binding.show and b.enabled)
    assert "Clinic settings" in footer  # the key is offered in the footer
    await pilot.press("ctrl+g")
    await settle(app, pilot)
    assert isinstance(app.screen, SettingsScreen)
    return app.screen


async def until(app, pilot, predicate, timeout: float = 5.0) -> None:
    await settle(app, pilot)
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    assert predicate()


def settings_as(backend, username: str = "demo.admin") -> dict:
    return call_as(backend, username, lambda s, me: s.settings.get(me))


@sync
async def test_settings_show_the_defaults_and_refuse_bad_hours_inline(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_settings(app, pilot)
        assert screen.query_one("#hours-mon", Input).value == "08:00-18:00"
        assert screen.query_one("#hours-sat", Input).value == "09:00-13:00"
        assert screen.query_one("#hours-sun", Input).value == "closed"
        assert screen.query_one("#max_upcoming", Input).value == "3"
        assert screen.query_one("#signups_per_hour", Input).value == "5"
        assert screen.query_one("#self_signup", Select).value is True
        assert screen.focused is screen.query_one("#hours-mon")
        # keyboard only: type over Monday, Enter saves; the refusal shows under it
        screen.query_one("#hours-mon", Input).value = ""
        await pilot.press(*"18:00-08:00")
        await pilot.press("enter")
        await settle(app, pilot)
        err = screen.query_one("#err-hours_mon", Static)
        assert err.display and "opening time must be before the closing time" in text_of(err)
        assert screen.focused is screen.query_one("#hours-mon")
        # several fields at once, each with its own message
        screen.query_one("#hours-mon", Input).value = "08:00-18:00"
        screen.query_one("#max_upcoming", Input).value = "1e309"
        screen.query_one("#signups_per_hour", Input).value = "0"
        screen.query_one("#max_upcoming", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert not screen.query_one("#err-hours_mon", Static).display
        assert "expected 1 to 50" in text_of(screen.query_one("#err-max_upcoming", Static))
        assert "expected 1 to 1000" in text_of(screen.query_one("#err-signups_per_hour",
                                                                 Static))
        assert settings_as(demo_backend)["version"] == 0  # nothing was saved


@sync
async def test_settings_save_and_leaving_asks_first(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_settings(app, pilot)
        assert screen.has_class("-wide")
        screen.query_one("#hours-sat", Input).value = "closed"
        screen.query_one("#hours-sun", Input).value = "10:00-12:00"
        screen.query_one("#max_upcoming", Input).value = "5"
        screen.query_one("#self_signup", Select).value = False
        await pilot.press("ctrl+o")
        await until(app, pilot, lambda: settings_as(demo_backend)["version"] == 1)
        saved = settings_as(demo_backend)
        assert saved["hours"]["sat"] is None and saved["hours"]["sun"] == ["10:00", "12:00"]
        assert saved["max_upcoming"] == 5 and saved["self_signup"] is False
        await settle(app, pilot)
        assert "Last changed by demo.admin" in text_of(screen.query_one("#settings-status",
                                                                        Static))
        assert not screen.has_unsaved_changes
        # unsaved typing: Esc asks before discarding
        screen.query_one("#max_upcoming", Input).value = "7"
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, UsersScreen)
        assert settings_as(demo_backend)["max_upcoming"] == 5


@sync
async def test_a_doctors_hours_from_the_settings_screen(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_settings(app, pilot)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, DoctorHoursScreen)
        await until(app, pilot, lambda: bool(dialog.doctors))
        hartwell = next(d for d in dialog.doctors.values()
                        if d["full_name"] == "Dr. Maya Hartwell")
        dialog.query_one("#doctor", Select).value = hartwell["id"]
        await settle(app, pilot)
        assert dialog.query_one("#dh-mon", Input).value == "08:00-18:00"
        assert "the clinic's hours" in text_of(dialog.query_one("#doctor-hours-now", Static))
        dialog.query_one("#dh-tue", Input).value = "9 to 5"
        dialog.query_one("#dh-tue", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert "Tue: write the hours like 08:00-18:00" in text_of(
            dialog.query_one("#err-hours_tue", Static))
        for day in ("mon", "tue", "wed", "thu", "fri"):
            dialog.query_one(f"#dh-{day}", Input).value = "09:00-17:00"
        dialog.query_one("#dh-sat", Input).value = "closed"
        await pilot.press("ctrl+o")
        await until(app, pilot, lambda: "their own hours" in text_of(
            dialog.query_one("#doctor-hours-now", Static)))
        assert "Mon-Fri 09:00-17:00; closed Sat, Sun" in text_of(
            dialog.query_one("#doctor-hours-now", Static))
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, SettingsScreen)

    # the booking form offers only times inside the doctor's new hours, and says them
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_appointments(app, pilot, "demo.doctor")
        form = await open_form(app, pilot)
        await settle(app, pilot)
        picker = form.query_one(SlotPicker)
        free = picker.days[date(2026, 3, 4)]
        assert free.hours == "09:00-17:00" and free.times
        assert max(free.times).strftime("%H:%M") == "16:30"  # 20 minutes end by 17:00
        assert "hours 09:00-17:00" in text_of(form.query_one("#slot-hours", Static))
        assert not picker.choose(date(2026, 3, 4), "17:20")
        assert date(2026, 3, 7) not in [d for d, f in picker.days.items() if f.times]  # Sat


@sync
async def test_other_roles_cannot_change_the_settings(make_app, demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await login_as(app, pilot, "demo.doctor")
        app.push_screen(SettingsScreen())
        await settle(app, pilot)
        screen = app.screen
        assert screen.query_one("#max_upcoming", Input).value == "3"  # reads are open
        screen.query_one("#max_upcoming", Input).value = "9"
        await pilot.press("ctrl+o")
        await settle(app, pilot)
        denied = screen.query_one("#settings-denied", Static)
        assert denied.display and "not allowed to change the clinic settings" in \
            text_of(denied)
        assert settings_as(demo_backend)["max_upcoming"] == 3


@sync
async def test_booking_form_shows_the_clinic_hours_and_the_limit_inline(make_app,
                                                                         demo_backend):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_appointments(app, pilot, "demo.doctor")
        form = await open_form(app, pilot)
        await pick_patient(app, pilot, form, "whitaker")
        await settle(app, pilot)
        picker = form.query_one(SlotPicker)
        # the form offers only the clinic's hours: nothing on a Sunday or at night, and
        # Saturday from 09:00 with the last visit ending by 13:00
        assert not picker.choose(date(2026, 3, 8), "03:00")
        assert not picker.days[date(2026, 3, 8)].times
        saturday = picker.days[date(2026, 3, 7)]
        assert saturday.hours == "09:00-13:00"
        assert [f"{saturday.times[0]:%H:%M}", f"{saturday.times[-1]:%H:%M}"] == ["09:00",
                                                                                 "12:30"]
        assert picker.choose(date(2026, 3, 7), "12:30")
        await fill(pilot, form, reason="Saturday")
        # while the form is open the clinic shortens Saturday: the service refuses, inline,
        # naming the hours, and the form offers what is free now
        call_as(demo_backend, "demo.admin", lambda s, me: s.settings.update(
            me, {"hours": {"sat": "09:00-12:00"}}, version=0))
        form.query_one("#reason", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is form
        error = text_of(form.query_one("#err-time", Static))
        assert error.startswith("The clinic is open Mon-Fri 08:00-18:00, Sat 09:00-12:00; "
                                "closed Sun")
        assert form.focused is form.query_one("#slot")
        assert f"{picker.days[date(2026, 3, 7)].times[-1]:%H:%M}" == "11:30"


@sync
async def test_vitals_form_shows_the_range_message_for_infinite_values(make_app):
    """A whole-number field given 1e309 (infinity) used to end in "Something went wrong"."""
    from tests.ui.test_vitals import fill_reading, open_vitals

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_vitals(app, pilot, "demo.doctor", "Reyes")
        form = await fill_reading(app, pilot, heart_rate="1e309")
        assert app.screen is form  # still open, nothing saved
        err = form.query_one("#err-heart_rate", Static)
        assert err.display and "Heart rate must be a number (expected 20 to 300 bpm)" in \
            text_of(err)


@sync
async def test_patient_form_shows_invisible_names_and_old_births_inline(make_app):
    from meditrack_tui.screens.forms.patient import PatientFormScreen

    from tests.ui.test_patients import open_list

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_list(app, pilot)
        await pilot.press("ctrl+n")
        await settle(app, pilot)
        form = app.screen
        assert isinstance(form, PatientFormScreen)
        form.query_one("#f-first_name", Input).value = "\u200b\u200b"
        form.query_one("#f-last_name", Input).value = "Lind\u202egren"
        form.query_one("#f-dob", Input).value = "0001-01-01"
        form.query_one("#f-sex", Select).value = "F"
        form.query_one("#f-first_name", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is form and screen is not form
        assert "invisible characters alone do not count" in text_of(
            form.query_one("#err-first_name", Static))
        assert "direction-changing" in text_of(form.query_one("#err-last_name", Static))
        assert "from 1900-01-01 to today" in text_of(form.query_one("#err-dob", Static))


@sync
async def test_doctor_hours_arriving_late_never_overwrite_what_was_typed(make_app, demo_backend):
    """The doctors' hours answer may come after typing began (a slow store): the days typed
    in keep their text, the others show the loaded hours; another doctor shows theirs."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_settings(app, pilot)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, DoctorHoursScreen)
        await until(app, pilot, lambda: bool(dialog.doctors))
        shown = dialog.current
        dialog.query_one("#dh-mon", Input).value = "07:00-12:00"  # typed
        # a late answer (e.g. a reload after someone's change) with other hours stored
        late = [dict(d, hours={**d["hours"], "mon": ["10:00", "11:00"],
                               "tue": ["10:00", "11:00"]}) for d in dialog.doctors.values()]
        from meditrack_tui.screens.forms.doctor_hours import DoctorsLoaded

        dialog.post_message(DoctorsLoaded(late, None, False))
        await settle(app, pilot)
        assert dialog.current["id"] == shown["id"]
        assert dialog.query_one("#dh-mon", Input).value == "07:00-12:00"  # kept
        assert dialog.query_one("#dh-tue", Input).value == "10:00-11:00"  # untouched: loaded
        other = next(d for d in dialog.doctors.values() if d["id"] != shown["id"])
        dialog.query_one("#doctor", Select).value = other["id"]
        await settle(app, pilot)
        assert dialog.query_one("#dh-mon", Input).value == "10:00-11:00"  # the other's week


@sync
async def test_the_palette_offers_the_screens_keys_for_a_browser(make_app, demo_backend):
    """A browser keeps Ctrl+T for itself: the settings' "Doctor hours" (ctrl+t) is also a
    palette command that opens the form; keys the role may not use are not offered."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_settings(app, pilot)
        commands = {c.title: c for c in app.get_system_commands(screen)}
        assert "Doctor hours" in commands and "^t" in commands["Doctor hours"].help
        await commands["Doctor hours"].callback()
        await settle(app, pilot)
        assert isinstance(app.screen, DoctorHoursScreen)
        # an admin on a patient's record: no reading to add, so no such command
        pid = app.backend.call(lambda s: s.patients.list(app.session, query="Reyes")).items[0]
        app.post_message(OpenPatient(pid["id"]))
        await settle(app, pilot)
        await settle(app, pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Edit" in " ".join(titles) and "Add reading" not in titles
