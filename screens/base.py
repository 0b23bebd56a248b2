"""What every MediTrack screen shares: typed service calls whose answers and failures come
back as messages, the one failure handler, the screen's context, and re-fetching on
changes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from textual import getters, work
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input
from textual.worker import Worker, get_current_worker

from meditrack_tui.domain.permissions import Permissions
from meditrack_tui.errors import MediTrackError, SessionExpired

from .context import ScreenContext
from .messages import DataChanged, ServiceFailed

if TYPE_CHECKING:
    from textual.widgets import DataTable

    from meditrack_tui.services import Services
    from meditrack_tui.services.base import Session

    from .app import MediTrackApp

T = TypeVar("T")


@contextmanager
def live_refresh(app: Any) -> Iterator[None]:
    """Service calls started inside re-fetch what a screen shows after someone's change:
    a read the audit already holds for this session is not recorded again."""
    app.live_refresh = True
    try:
        yield
    finally:
        app.live_refresh = False


def label_of(kind: Any, value: Any) -> str:
    """A stored value's label from its domain enum (``AppointmentStatus``,
    ``AccountStatus``); the value itself when the domain does not know it."""
    try:
        return str(kind(value).label)
    except ValueError:
        return "" if value is None else str(value)


def error_text(exc: BaseException) -> str:
    """A sentence for the user: the service's message, or a plain fallback (never a traceback)."""
    if isinstance(exc, MediTrackError):
        return exc.message
    return (f"Something went wrong ({type(exc).__name__}). Please try again; "
            "if it keeps happening, tell your administrator.")


if TYPE_CHECKING:
    # the type checker sees the mixin as the widget it is always mixed into (so its typed
    # `app` below is an ordinary override); at run time it is a plain mixin, which keeps
    # Textual's CSS inheritance following the widget's own first base
    _Mixin = Widget
else:
    _Mixin = object


class ServiceMixin(_Mixin):
    """Typed service calls for screens, dialogs and panes.

    :meth:`ask` runs ``call(services)`` on the store thread from a thread worker of an
    exclusive group and posts ``reply(result)``, a message, to this widget; a newer call
    in the same group supersedes an older one, whose answer is then dropped. A failure
    is posted as :class:`ServiceFailed`, handled by :meth:`on_service_failed` (override it
    for inline errors and call ``prevent_default()``).
    """

    if TYPE_CHECKING:  # Textual's typed `app` (textual.getters.app), for the type checker
        app = getters.app(MediTrackApp)

    @property
    def ctx(self) -> ScreenContext:
        """Who is working and what they may do (the App's logged-in session), the clock
        and the backend: everything a screen needs from outside, typed."""
        return self.app.context

    @property
    def permissions(self) -> Permissions:
        """What the session may do: the one policy table, asked through the same object
        the services use (never a role compared here)."""
        return self.app.permissions

    def ask(self, call: Callable[[Services], T], reply: Callable[[T], Message] | None = None,
            *, group: str = "service", busy: Widget | None = None) -> None:
        """Run ``call`` on the store thread; post ``reply(result)`` to this widget."""
        if busy is not None:
            busy.loading = True
        live = bool(getattr(self.app, "live_refresh", False))
        self._ask_worker(call, reply, busy, live, group)

    def _ask_worker(self, call: Callable[[Services], T], reply: Callable[[T], Message] | None,
                    busy: Widget | None, live: bool, group: str) -> None:
        widget: Any = self

        @work(thread=True, exclusive=True, exit_on_error=False, group=group)
        def runner(target: Any) -> None:
            worker = get_current_worker()
            answer: Message | None
            try:
                result = target.app.backend.call(call, live=live)
                answer = reply(result) if reply is not None else None
            except Exception as exc:  # noqa: BLE001 - every failure becomes a message
                answer = ServiceFailed(group, exc)
            try:
                target.app.call_from_thread(target._deliver, worker, answer, busy)
            except RuntimeError:  # the app closed while the call ran
                pass

        runner(widget)

    def _deliver(self, worker: Worker[None], answer: Message | None,
                 busy: Widget | None) -> None:
        """On the event loop: drop a superseded answer (a newer call of its group was
        started: cancelling happens on this loop too, so the check cannot race)."""
        if worker.is_cancelled:
            return
        if busy is not None:
            busy.loading = False
        if answer is not None and isinstance(self, Widget) and self.is_attached:
            self.post_message(answer)

    def on_service_failed(self, message: ServiceFailed) -> None:
        """The one failure handler: an expired session logs out; otherwise the service's
        sentence in a notification (never a traceback)."""
        message.stop()
        exc = message.error
        if isinstance(exc, SessionExpired):
            self.app.session_ended(exc.message)
            return
        if not isinstance(exc, MediTrackError):
            self.app.log.error(f"service call {message.group} failed: {exc!r}")
        title = exc.title if isinstance(exc, MediTrackError) else "Error"
        self.app.notify(error_text(exc), title=title, severity="error", timeout=8,
                        markup=False)


class BaseScreen(ServiceMixin, Screen[Any]):
    """A MediTrack screen: loads its data with :meth:`reload`, re-fetches on DataChanged."""

    #: collections whose changes make this screen re-fetch
    WATCHES: frozenset[str] = frozenset()

    @property
    def session(self) -> Session:
        """The logged-in session (screens past the login screen only)."""
        return self.ctx.session

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Fetch what the screen shows (override)."""

    def on_data_changed(self, message: DataChanged) -> None:
        if self.WATCHES & message.collections and self.is_relevant(message):
            with live_refresh(self.app):
                self.reload()

    def is_relevant(self, message: DataChanged) -> bool:
        return True

    #: the search field that text typed on this screen's tables goes to (a selector)
    SEARCH_FIELD: str | None = None

    def search_field(self, table: DataTable[Any]) -> Input | None:
        """Where text typed while ``table`` has the focus goes: the screen's search field
        when it has one that is shown now, else None (the keys then only navigate)."""
        if not self.SEARCH_FIELD:
            return None
        for field in self.query(self.SEARCH_FIELD).results(Input):
            if field.display and field.visible and not field.disabled:
                return field
        return None
