"""What every MediTrack screen shares: running service calls off the event loop, errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from textual import events, work
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable

from meditrack_tui.errors import MediTrackError, SessionExpired, ValidationError

from .messages import DataChanged

if TYPE_CHECKING:
    from meditrack_tui.app import MediTrackApp


def error_text(exc: BaseException) -> str:
    """A sentence for the user: the service's message, or a plain fallback (never a traceback)."""
    if isinstance(exc, MediTrackError):
        return exc.message
    return f"Something went wrong ({type(exc).__name__}). Please try again; if it keeps happening, tell your administrator."


class ServiceMixin:
    """Run ``fn(services)`` on the store thread from a thread worker; deliver results on the UI.

    ``done(result)`` runs on the event loop. Errors go to ``error(exc)`` if given
    (for inline form messages), else to a notification; an expired session logs out.
    ``busy`` widgets show Textual's loading indicator while the call runs.
    """

    app: "MediTrackApp"

    def call_service(
        self,
        fn: Callable[[Any], Any],
        done: Callable[[Any], None] | None = None,
        *,
        error: Callable[[BaseException], None] | None = None,
        busy: Widget | None = None,
        group: str = "service",
        exclusive: bool = True,
    ) -> None:
        if busy is not None:
            busy.loading = True
        self._service_worker(fn, done, error, busy, group, exclusive)

    def _service_worker(self, fn, done, error, busy, group: str, exclusive: bool) -> None:
        widget: Any = self

        @work(thread=True, exclusive=exclusive, exit_on_error=False, group=group)
        def runner(target: Any) -> None:
            try:
                result = target.app.backend.call(fn)
            except BaseException as exc:  # noqa: BLE001 - every failure becomes a message
                target.app.call_from_thread(target._service_failed, exc, error, busy)
                return
            target.app.call_from_thread(target._service_done, result, done, busy)

        runner(widget)

    def _service_done(self, result: Any, done, busy: Widget | None) -> None:
        if busy is not None:
            busy.loading = False
        if done is not None:
            done(result)

    def _service_failed(self, exc: BaseException, error, busy: Widget | None) -> None:
        if busy is not None:
            busy.loading = False
        if isinstance(exc, SessionExpired):
            self.app.session_ended(exc.message)
            return
        if error is not None and isinstance(exc, MediTrackError):
            error(exc)
            return
        if not isinstance(exc, MediTrackError):
            self.app.log.error(f"service call failed: {exc!r}")
        title = exc.title if isinstance(exc, MediTrackError) else "Error"
        self.app.notify(error_text(exc), title=title, severity="error", timeout=8)


class BaseScreen(ServiceMixin, Screen):
    """A MediTrack screen: loads its data with :meth:`reload`, re-fetches on DataChanged."""

    #: collections whose changes make this screen re-fetch
    WATCHES: frozenset[str] = frozenset()

    @property
    def session(self):
        return self.app.session

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Fetch what the screen shows (override)."""

    def on_data_changed(self, message: DataChanged) -> None:
        if self.WATCHES & message.collections and self.is_relevant(message):
            self.reload()

    def is_relevant(self, message: DataChanged) -> bool:
        return True


def show_field_errors(container: Widget, exc: BaseException, prefix: str = "err-") -> bool:
    """Put a ValidationError's per-field messages into ``#err-<field>`` labels; True if shown."""
    from textual.widgets import Static

    if not isinstance(exc, ValidationError):
        return False
    shown = False
    for name, text in exc.fields.items():
        key = "form" if name == "_" else name
        try:
            label = container.query_one(f"#{prefix}{key}", Static)
        except Exception:
            continue
        label.update(text)
        label.display = True
        shown = True
    return shown


def clear_field_errors(container: Widget, prefix: str = "err-") -> None:
    from textual.widgets import Static

    for label in container.query(Static):
        if label.id and label.id.startswith(prefix):
            label.update("")
            label.display = False


class Table(DataTable):
    """A DataTable that redraws its rows once their column widths are measured.

    DataTable sizes auto-width columns on its idle event but keeps rows it rendered
    before that in a cache whose key has no column widths (Textual issue #4470): a
    table filled from a worker's result could stay clipped to its header widths until
    the cursor moved. Dropping the render caches after each measurement fixes that.
    """

    async def _on_idle(self, event: events.Idle) -> None:
        measuring = self._require_update_dimensions
        await super()._on_idle(event)
        if measuring:
            self._clear_caches()
            self.refresh()


def refilled(table: Any, scroll_y: float) -> None:
    """Finish replacing a DataTable's rows: measure them now, keep the scroll position.

    A DataTable sizes its columns from new rows on its own idle event, which only comes
    when the table itself receives a message: without a prompt, rows added from a
    screen's handler can sit at the columns' label widths until the next key press.
    ``clear()`` also scrolls to the top; a live re-fetch puts the view back.
    """
    table.check_idle()
    if scroll_y:
        table.call_after_refresh(table.scroll_to, y=scroll_y, animate=False, immediate=True)
