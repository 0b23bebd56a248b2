"""The Textual app: the session, top-level navigation, the idle lock and the live feed.

It receives a ready :class:`~meditrack_tui.runtime.Backend` from the CLI (or a
test) and never builds connections itself. Screens live in the ``screens``
package; this module only routes between them.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from screens.keys import AREA_ROLES, GLOBAL_KEYS, global_bindings

from .runtime import Backend

# area -> (module in screens, class name); imported lazily so start-up stays quick
AREAS: dict[str, tuple[str, str]] = {
    "dashboard": ("screens.dashboard", "DashboardScreen"),
    "records": ("screens.patients", "PatientListScreen"),
    "appointments": ("screens.appointments", "AppointmentsScreen"),
    "profile": ("screens.profile", "ProfileScreen"),
    "users": ("screens.admin", "UsersScreen"),
    "audit": ("screens.admin", "AuditScreen"),
}


class MediTrackApp(App):
    """MediTrack in the terminal."""

    TITLE = "MediTrack"
    CSS_PATH = "../screens/app.tcss"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [*global_bindings(), Binding("ctrl+q", "quit", "Quit", show=False, id="quit")]

    def __init__(self, backend: Backend, *, demo_logins: tuple[Any, str] | None = None,
                 idle_lock_minutes: float | None = None, live: bool = True) -> None:
        super().__init__()
        self.backend = backend
        self.demo_logins = demo_logins
        self.session: Any = None
        self.store_status = "Connecting to the database…"
        self.idle_lock_seconds = 60 * (idle_lock_minutes or backend.config.idle_lock_minutes)
        self.last_activity = time.monotonic()
        self.locked = False
        self.live = live

    def now(self) -> Any:
        """'Now' as the services see it (screens use it for 'today')."""
        return self.backend.now()

    # --- start-up ---

    def on_mount(self) -> None:
        from screens.login import LoginScreen

        self.push_screen(LoginScreen())
        # Connect once the login screen has been drawn: importing the database driver in
        # a thread would otherwise compete with the first paint for the interpreter.
        self.call_after_refresh(self.connect)
        self.set_interval(5, self.check_idle_lock)

    @work(thread=True, exit_on_error=False, group="connect")
    def connect(self) -> None:
        """Open the store while the login screen is already drawn."""
        try:
            info = self.backend.open()
            first_run = self.backend.call(lambda s: s.auth.needs_first_admin())
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
            from screens.base import error_text

            self.call_from_thread(self._set_store_status, f"⚠ {error_text(exc)}")
            return
        where = "embedded store" if info.kind == "embedded" else f"MongoDB at {info.location}"
        self.call_from_thread(self._connected, where, first_run)

    def _set_store_status(self, text: str) -> None:
        from screens.login import LoginScreen

        self.store_status = text
        for screen in self.screen_stack:
            if isinstance(screen, LoginScreen):
                screen.show_store_status(text)

    def _connected(self, where: str, first_run: bool) -> None:
        self._set_store_status(f"Connected: {where}")
        if first_run:
            from screens.login import SetupScreen

            self.switch_screen(SetupScreen())
        if self.live:
            self.start_feed()

    def start_feed(self) -> None:
        """Start polling the change feed (other sessions' changes) in a thread worker."""
        self._feed_worker()

    @work(thread=True, exit_on_error=False, group="feed", exclusive=True)
    def _feed_worker(self) -> None:
        from textual.worker import get_current_worker

        from .db import connect
        from .db.feed import open_feed

        worker = get_current_worker()
        # The feed has its own connection on its own thread, so polling never waits
        # behind (or delays) the screens' service calls.
        store = connect(self.backend.config, ensure_indexes=False)
        feed = open_feed(store)
        try:
            while not worker.is_cancelled:
                events = feed.poll()
                if events and not worker.is_cancelled:
                    self.call_from_thread(self.dispatch_changes, events)
                time.sleep(self.FEED_INTERVAL)
        finally:
            feed.close()
            store.close()

    FEED_INTERVAL = 0.25

    def dispatch_changes(self, events: list[Any]) -> None:
        """Turn feed events into DataChanged messages for every open screen (role-filtered)."""
        from screens.messages import DataChanged

        from .db.feed import visible_to

        session = self.session
        if session is None:
            return
        if any(e.collection == "users" and e.record_id == session.user_id for e in events):
            self._check_session(session)
        mine = [e for e in events if visible_to(e, session.role, session.patient_id)]
        if not mine:
            return
        collections = frozenset(e.collection for e in mine)
        patients = frozenset(e.patient_id for e in mine if e.patient_id)
        self.post_message(DataChanged(collections, patients))
        for screen in self.screen_stack:
            screen.post_message(DataChanged(collections, patients))

    @work(thread=True, exit_on_error=False, group="session-check")
    def _check_session(self, session: Any) -> None:
        from .errors import SessionExpired

        try:
            self.backend.call(lambda s: s.auth.verify(session))
        except SessionExpired as exc:
            self.call_from_thread(self.session_ended, exc.message)
        except Exception:  # noqa: BLE001 - the next service call will report it
            pass

    # --- session ---

    def logged_in(self, session: Any) -> None:
        self.session = session
        self.last_activity = time.monotonic()
        self.refresh_bindings()
        self.goto("dashboard")
        self.notify(f"Welcome, {session.full_name}.", timeout=3)
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
        from screens.confirm import ConfirmScreen

        self.push_screen(ConfirmScreen("You have unsaved changes. Discard them and leave?",
                                       yes="Discard", no="Stay"),
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
        from screens.login import LoginScreen

        self.locked = False
        self._clear_stack()
        self.refresh_bindings()
        self.push_screen(LoginScreen(message))

    # --- navigation ---

    def area_allowed(self, area: str) -> bool:
        if self.session is None:
            return False
        roles = AREA_ROLES.get(area, ())
        return not roles or self.session.role in roles

    def make_screen(self, area: str) -> Screen:
        import importlib

        if area == "records" and self.session.role == "patient":
            from screens.patient_detail import PatientScreen

            return PatientScreen(self.session.patient_id, own=True)
        module, name = AREAS[area]
        return getattr(importlib.import_module(module), name)()

    def action_goto(self, area: str) -> None:
        self.goto(area)

    def goto(self, area: str) -> None:
        """Open a top-level area, replacing whatever drill-down was open (asking first
        when a form there has unsaved changes)."""
        if self.session is None or self.locked:
            return
        if not self.area_allowed(area):
            self.notify("Your role cannot open that screen.", severity="warning")
            return
        self.leave(lambda: self._open_area(area))

    def _open_area(self, area: str) -> None:
        self._clear_stack()
        self.push_screen(self.make_screen(area))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "goto":
            return self.area_allowed(str(parameters[0])) if parameters else False
        if action in ("logout", "lock"):
            return self.session is not None and not self.locked
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.session is None or self.locked:
            return
        for key in GLOBAL_KEYS:
            if key.action.startswith("app.goto("):
                area = key.action.removeprefix("app.goto('").removesuffix("')")
                if self.area_allowed(area):
                    yield SystemCommand(f"Go to {key.label}", f"{key.help} ({key.key.upper()})",
                                        lambda a=area: self.goto(a))
        yield SystemCommand("Lock the terminal", "Hide everything until your password (F9)",
                            self.action_lock)
        yield SystemCommand("Log out", "End your session (F10)", self.action_logout)
        screen_commands = getattr(screen, "palette_commands", None)
        if screen_commands:
            yield from screen_commands()

    # --- idle lock ---

    def on_event(self, event: Any) -> Any:
        from textual import events

        if isinstance(event, (events.Key, events.MouseDown, events.MouseScrollDown,
                              events.MouseScrollUp)):
            self.last_activity = time.monotonic()
        return super().on_event(event)

    def check_idle_lock(self) -> None:
        if self.session is None or self.locked:
            return
        if time.monotonic() - self.last_activity >= self.idle_lock_seconds:
            self.action_lock()

    def action_lock(self) -> None:
        """Cover every screen until the user types their password again."""
        if self.session is None or self.locked:
            return
        from screens.lock import LockScreen

        self.locked = True
        self.refresh_bindings()
        self.push_screen(LockScreen(), callback=self._unlocked)

    def _unlocked(self, _result: Any = None) -> None:
        self.locked = False
        self.last_activity = time.monotonic()
        self.refresh_bindings()
