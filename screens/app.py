"""The Textual app: the session, top-level navigation, the idle lock and the live feed.

It receives a ready :class:`~meditrack_tui.runtime.Backend` from the CLI (or a
test) and never builds connections itself. Screens live in the ``screens``
package; this module only routes between them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from textual import work
from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from meditrack_tui.domain.permissions import Permissions
from meditrack_tui.quiet_gc import QuietCollector, resume_after_startup
from meditrack_tui.runtime import Backend

from .browser import BrowserEvents
from .context import ScreenContext
from .feed import LiveFeedApp
from .keys import AREA_KEYS, KEY_SETTLE, KeyGuard, global_bindings
from .messages import OpenAgenda, OpenArea, OpenPatient, OpenSettings, OpenSignup

# area -> (module of this package, class name); imported lazily so start-up stays quick
AREAS: dict[str, tuple[str, str]] = {
    "dashboard": (".dashboard", "DashboardScreen"),
    "records": (".patients", "PatientListScreen"),
    "appointments": (".appointments", "AppointmentsScreen"),
    "profile": (".profile", "ProfileScreen"),
    "users": (".users", "UsersScreen"),
    "audit": (".audit_log", "AuditScreen"),
}


class MediTrackApp(BrowserEvents, LiveFeedApp):
    """MediTrack in the terminal."""

    TITLE = "MediTrack"
    # login.tcss (the login, sign-up, setup and lock screens) is read with the app's own
    # sheet: a screen's CSS_PATH makes Textual parse every loaded sheet again, twice, before
    # that screen's first frame - a cost start-up would pay before the login screen shows
    CSS_PATH = ["app.tcss", "login.tcss"]
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [*global_bindings(), Binding("ctrl+q", "quit", "Quit", show=False, id="quit")]

    def __init__(self, backend: Backend, *, demo_logins: tuple[Any, str] | None = None,
                 idle_lock_minutes: float | None = None, live: bool = True,
                 key_settle: float = KEY_SETTLE) -> None:
        super().__init__()
        #: drops the keys that reach a dialog or form while it opens (screens.keys)
        self.key_guard = KeyGuard(key_settle)
        self.backend = backend
        self.demo_logins = demo_logins
        self.session: Any = None
        self.store_status = "Connecting to the database…"
        #: whether people may sign themselves up here (the clinic's switch; known once connected)
        self.signup_open = True
        self.idle_lock_seconds = 60 * (idle_lock_minutes or backend.config.idle_lock_minutes)
        self.last_activity = time.monotonic()
        self.locked = False
        self.live = live
        self.feed_ok = True  # False while live updates are interrupted
        self.quiet_gc = QuietCollector()

    @property
    def permissions(self) -> Permissions:
        """What the logged-in session may do (nothing when nobody is logged in): the same
        policy table the services enforce, so the UI offers only what they accept."""
        return Permissions.of(self.session)

    _last_context: ScreenContext | None = None

    @property
    def context(self) -> ScreenContext:
        """The typed context screens work in: the logged-in session's or, for a screen still
        closing after a logout, the ended session's (whose calls the services refuse)."""
        if self.session is not None:
            self._last_context = ScreenContext(self.session, self.permissions, self.backend)
        if self._last_context is None:
            raise RuntimeError("no one has logged in")
        return self._last_context

    # --- start-up ---

    def get_default_screen(self) -> Screen[Any]:
        """The login screen is the base of the screen stack (not pushed over a blank one):
        areas open above it, and a logout pushes a fresh one."""
        from .login import LoginScreen

        return LoginScreen()

    def on_mount(self) -> None:
        self.screen_change_signal.subscribe(self, self.key_guard.screen_changed, immediate=True)
        # Connect once the login screen has been drawn (LoginScreen.Drawn): importing the
        # services and the database driver in a thread would otherwise compete with the
        # first paint for the interpreter. The timer is a fallback, should that never come.
        self.set_timer(1.0, self._start_connect)
        self.set_interval(5, self.check_idle_lock)
        # full garbage collections while the user is idle, not in the middle of a keypress
        self.quiet_gc.install()
        self.set_interval(0.5, lambda: self.quiet_gc.tick(time.monotonic() - self.last_activity))

    def on_unmount(self) -> None:
        self.quiet_gc.uninstall()

    _connect_started = False

    def on_login_screen_drawn(self) -> None:
        self._start_connect()

    def _start_connect(self) -> None:
        """Connect, once per run (a login screen shown after a logout does not reconnect)."""
        if not self._connect_started:
            self._connect_started = True
            resume_after_startup()  # the login screen is up: collect garbage again
            self.connect()

    @work(thread=True, exit_on_error=False, group="connect")
    def connect(self) -> None:
        """Open the store while the login screen is already drawn."""
        try:
            info = self.backend.open()
            first_run, has_admin, signup_open = self.backend.call(
                lambda s: (s.auth.needs_first_admin(), s.auth.has_admin(),
                           s.auth.signup_open()))
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
            from .base import error_text

            self.call_from_thread(self._set_store_status, f"⚠ {error_text(exc)}")
            return
        where = "embedded store" if info.kind == "embedded" else f"MongoDB at {info.location}"
        if not first_run and not has_admin:
            where += (" · no administrator: create one on the server with "
                      "'meditrack create-admin'")
        self.signup_open = signup_open
        self.call_from_thread(self._connected, where, first_run)

    def _set_store_status(self, text: str) -> None:
        from .login import LoginScreen

        self.store_status = text
        for screen in self.screen_stack:
            if isinstance(screen, LoginScreen):
                screen.show_store_status(text)

    def _connected(self, where: str, first_run: bool) -> None:
        self._set_store_status(f"Connected: {where}")
        if first_run:
            from .setup import SetupScreen

            self.push_screen(SetupScreen())  # over the login screen (the first screen)
        if self.live:
            self.start_feed()

    def dispatch_changes(self, events: list[Any]) -> None:
        """Turn feed events into DataChanged messages for every open screen (role-filtered)."""
        from meditrack_tui.live import RESYNC, visible_to

        from .messages import DataChanged

        session = self.session
        if session is None:
            return
        if any(e.collection == "users" and (e.record_id == session.user_id or e.op == RESYNC)
               for e in events):
            self._check_session(session)
        mine = [e for e in events if visible_to(e, session.role, session.patient_id)]
        if not mine:
            return
        collections = frozenset(e.collection for e in mine)
        if any(e.op == RESYNC for e in mine):
            patients: frozenset[str] = frozenset()  # no patient named: re-fetch everything
        else:
            patients = frozenset(e.patient_id for e in mine if e.patient_id)
        self.post_message(DataChanged(collections, patients))
        for screen in self.screen_stack:
            screen.post_message(DataChanged(collections, patients))

    @work(thread=True, exit_on_error=False, group="session-check")
    def _check_session(self, session: Any) -> None:
        from meditrack_tui.errors import SessionExpired

        try:
            self.backend.call(lambda s: s.auth.verify(session))
        except SessionExpired as exc:
            self.call_from_thread(self.session_ended, exc.message)
        except Exception:  # noqa: BLE001 - the next service call will report it
            pass

    # --- session ---

    def logged_in(self, session: Any) -> None:
        self._start_connect()  # (already under way unless the login screen went unseen)
        self.session = session
        self.last_activity = time.monotonic()
        self.refresh_bindings()
        self.goto("dashboard")
        self.notify(f"Welcome, {session.full_name}.", timeout=3, markup=False)
        self.set_timer(1.0, lambda: self._warm_up(session))

    @work(thread=True, exit_on_error=False, group="warm-up")
    def _warm_up(self, session: Any) -> None:
        """Prepare search and chart indexes while the user reads the dashboard."""
        try:
            self.backend.call(lambda s: s.warm_up(session))
        except Exception:  # noqa: BLE001 - only an optimisation; real calls report errors
            pass

    def _clear_stack(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def unsaved_work(self) -> bool:
        """True when an open form holds typed changes that leaving would lose."""
        return any(getattr(screen, "has_unsaved_changes", False) for screen in self.screen_stack)

    def leave(self, then: Any) -> None:
        """Run ``then`` now, or after the user agrees to discard unsaved changes."""
        if not self.unsaved_work():
            then()
            return
        from .forms.confirm import ConfirmScreen

        self.push_screen(ConfirmScreen("You have unsaved changes. Discard them and leave?",
                                       yes="Discard", no="Keep editing"),
                         lambda discard: then() if discard else None)

    def action_logout(self) -> None:
        self.leave(self._logout)

    def _logout(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            self._logout_worker(session)
        self.show_login("You have logged out.")

    @work(thread=True, exit_on_error=False, group="logout")
    def _logout_worker(self, session: Any) -> None:
        try:
            self.backend.call(lambda s: s.auth.logout(session))
        except Exception:  # noqa: BLE001 - logging out locally happened already
            pass

    def session_ended(self, message: str) -> None:
        """The session expired or was revoked (by an admin, a role change, logout elsewhere)."""
        if self.session is None:
            return
        self.session = None
        self.show_login(message)

    def show_login(self, message: str | None = None) -> None:
        from .login import LoginScreen

        self.locked = False
        self._clear_stack()
        self.refresh_bindings()
        self.push_screen(LoginScreen(message))

    # --- navigation ---

    def area_allowed(self, area: str) -> bool:
        if self.session is None:
            return False
        key = AREA_KEYS.get(area)
        return key is None or key.offered_to(self.permissions)

    def make_screen(self, area: str, **options: Any) -> Screen[Any]:
        """The screen of an area; ``options`` go to its constructor (e.g. a tab to show)."""
        import importlib

        if area == "records" and self.session.role == "patient":
            from .patient_detail import PatientScreen

            return PatientScreen(self.session.patient_id, own=True, **options)
        module, name = AREAS[area]
        return getattr(importlib.import_module(module, __package__), name)(**options)

    def action_goto(self, area: str) -> None:
        self.goto(area)

    # --- routing: screens ask for another screen by message (no screen imports another) ---

    def on_open_patient(self, message: OpenPatient) -> None:
        """A patient's record over the current screen (a patient sees only their own)."""
        if self.session is None or self.locked:
            return
        from .patient_detail import PatientScreen

        tab = message.tab or "overview"
        if self.session.role == "patient":
            self.goto("records", tab=tab)
            return
        self.push_screen(PatientScreen(message.patient_id, tab=tab))

    def on_open_area(self, message: OpenArea) -> None:
        self.goto(message.area, **message.options)

    def on_open_agenda(self, message: OpenAgenda) -> None:
        options: dict[str, Any] = {}
        if message.doctor_id:
            options["doctor_id"] = message.doctor_id
        if message.day:
            options["day"] = message.day
        self.goto("appointments", **options)

    def on_open_settings(self, message: OpenSettings) -> None:
        if self.session is None or self.locked:
            return
        if not self.permissions.may("settings.manage"):
            self.notify("Your role cannot change the clinic settings.", severity="warning",
                        markup=False)
            return
        from .settings import SettingsScreen

        self.push_screen(SettingsScreen())

    def on_open_signup(self, message: OpenSignup) -> None:
        if self.session is not None:
            return
        from .signup import SignupScreen

        self.push_screen(SignupScreen())

    def goto(self, area: str, **options: Any) -> None:
        """Open a top-level area, replacing whatever drill-down was open (asking first
        when a form there has unsaved changes)."""
        if self.session is None or self.locked:
            return
        if not self.area_allowed(area):
            self.notify("Your role cannot open that screen.", severity="warning", markup=False)
            return
        self.leave(lambda: self._open_area(area, options))

    def _open_area(self, area: str, options: dict[str, Any] | None = None) -> None:
        self._clear_stack()
        self.push_screen(self.make_screen(area, **(options or {})))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer (and show in the footer) only the global keys that work now: a role's
        areas while logged in; nothing while locked (the lock screen has its own F10)."""
        if action == "goto":
            if self.locked or not parameters:
                return False
            return self.area_allowed(str(parameters[0]))
        if action in ("logout", "lock"):
            return self.session is not None and not self.locked
        return True

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The palette: Textual's own commands, then what the role may do from anywhere
        and on this screen (screens/palette.py)."""
        from .palette import system_commands

        return system_commands(self, screen, super().get_system_commands(screen))

    def change_password(self) -> None:
        """Open the profile with the cursor in the current-password field."""
        self.goto("profile", focus="current_password")

    # --- idle lock ---

    async def on_event(self, event: Any) -> None:
        from textual import events

        if isinstance(event, (events.Key, events.MouseDown, events.MouseScrollDown,
                              events.MouseScrollUp)):
            self.last_activity = time.monotonic()
        if isinstance(event, events.Key) and not event.is_forwarded \
                and self.key_guard.drops(event, self.screen):
            return
        await super().on_event(event)

    def check_idle_lock(self) -> None:
        if self.session is None or self.locked:
            return
        if time.monotonic() - self.last_activity >= self.idle_lock_seconds:
            self.action_lock()

    def action_lock(self) -> None:
        """Cover every screen until the user types their password again."""
        if self.session is None or self.locked:
            return
        from .lock import LockScreen

        self.locked = True
        self.refresh_bindings()
        self.push_screen(LockScreen(), callback=self._unlocked)

    def _unlocked(self, _result: Any = None) -> None:
        self.locked = False
        self.last_activity = time.monotonic()
        self.refresh_bindings()
