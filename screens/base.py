"""What every MediTrack screen shares: running service calls off the event loop, errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from rich.cells import cell_len
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Input

from meditrack_tui.domain.permissions import Permissions
from meditrack_tui.errors import MediTrackError, SessionExpired, ValidationError

from .messages import DataChanged

if TYPE_CHECKING:
    from meditrack_tui.app import MediTrackApp


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


class ServiceMixin:
    """Run ``fn(services)`` on the store thread from a thread worker; deliver results on the UI.

    ``done(result)`` runs on the event loop. Errors go to ``error(exc)`` if given
    (for inline form messages), else to a notification; an expired session logs out.
    ``busy`` widgets show Textual's loading indicator while the call runs.
    """

    app: MediTrackApp

    @property
    def permissions(self) -> Permissions:
        """What the session may do: the one policy table, asked through the same object
        the services use (never a role compared here)."""
        return self.app.permissions

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
        live = bool(getattr(self.app, "live_refresh", False))
        self._service_worker(fn, done, error, busy, group, exclusive, live)

    def _service_worker(self, fn, done, error, busy, group: str, exclusive: bool,
                        live: bool = False) -> None:
        widget: Any = self

        @work(thread=True, exclusive=exclusive, exit_on_error=False, group=group)
        def runner(target: Any) -> None:
            try:
                result = target.app.backend.call(fn, live=live)
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
        self.app.notify(error_text(exc), title=title, severity="error", timeout=8,
                        markup=False)


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
            with live_refresh(self.app):
                self.reload()

    def is_relevant(self, message: DataChanged) -> bool:
        return True

    #: the search field that text typed on this screen's tables goes to (a selector)
    SEARCH_FIELD: str | None = None

    def search_field(self, table: DataTable) -> Input | None:
        """Where text typed while ``table`` has the focus goes: the screen's search field
        when it has one that is shown now, else None (the keys then only navigate)."""
        if not self.SEARCH_FIELD:
            return None
        for field in self.query(self.SEARCH_FIELD).results(Input):
            if field.display and field.visible and not field.disabled:
                return field
        return None


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
        label.update(Text(text))  # messages may quote what was typed: never markup
        label.display = True
        shown = True
    return shown


def clear_field_errors(container: Widget, prefix: str = "err-") -> None:
    from textual.widgets import Static

    for label in container.query(Static):
        if label.id and label.id.startswith(prefix):
            label.update("")
            label.display = False


class Short(NamedTuple):
    """A table cell with a shorter form for a narrow table, e.g. ("04 Mar 2026", "04 Mar")."""

    full: Any
    short: Any


@dataclass(frozen=True)
class Fit:
    """How a table's columns give way when its contents are wider than the table.

    First every :class:`Short` cell takes its short form; then the ``drop`` columns are
    left out (the first named first) for as long as the ``flex`` columns would get fewer
    than ``minimum`` cells; the flex columns then share what is left, cut with an ellipsis.
    """

    flex: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    minimum: int = 12


def share(widths: list[int], room: int) -> list[int]:
    """Cut ``widths`` to ``room`` cells together: the widest give way first, evenly."""
    if sum(widths) <= room:
        return list(widths)
    out = list(widths)
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    left = max(room, 0)
    for pos, index in enumerate(order):
        rest = len(order) - pos
        if widths[index] * rest <= left:
            left -= widths[index]
            continue
        level, extra = divmod(left, rest)
        for n, other in enumerate(order[pos:]):
            out[other] = max(1, level + (1 if n < extra else 0))
        break
    return out


def fit_widths(natural: dict[str, int], width: int, fit: Fit, padding: int = 2) -> dict[str, int]:
    """The columns to show in a table ``width`` cells wide and their widths (see :class:`Fit`).

    ``natural`` is each column's widest content (header included), in column order.
    """
    shown = dict(natural)
    if sum(w + padding for w in shown.values()) <= width:
        return shown

    def fixed() -> int:
        return sum(w + padding for key, w in shown.items() if key not in fit.flex)

    for key in fit.drop:
        flex = [k for k in shown if k in fit.flex]
        if fixed() + sum(min(shown[k], fit.minimum) + padding for k in flex) <= width:
            break
        shown.pop(key, None)
    flex = [k for k in shown if k in fit.flex]
    room = width - fixed() - padding * len(flex)
    for key, cut in zip(flex, share([shown[k] for k in flex], room), strict=False):
        shown[key] = cut
    return shown


def short_day(moment: Any, today: Any) -> str:
    """'04 Mar' for a day of this year, '04 Mar 25' for another year (narrow tables)."""
    if not hasattr(moment, "year"):
        return ""
    return f"{moment:%d %b}" if moment.year == getattr(today, "year", None) \
        else f"{moment:%d %b %y}"


def short_doctor(name: str | None) -> str:
    """'Dr. Maya Hartwell' -> 'Dr. Hartwell' so the column stays narrow."""
    if not name:
        return ""
    parts = name.split()
    if len(parts) >= 3 and parts[0].lower().rstrip(".") == "dr":
        return f"{parts[0]} {parts[-1]}"
    return name


def _cell_width(value: Any) -> int:
    return value.cell_len if isinstance(value, Text) else cell_len(str(value))


class Table(DataTable):
    """A DataTable that redraws its rows once their column widths are measured, and can
    fit its columns to its width (:meth:`fill_fitted`).

    DataTable sizes auto-width columns on its idle event but keeps rows it rendered
    before that in a cache whose key has no column widths (Textual issue #4470): a
    table filled from a worker's result could stay clipped to its header widths until
    the cursor moved. Dropping the render caches after each measurement fixes that.
    """

    BINDINGS = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    #: how :meth:`fill_fitted` lets the columns give way (None: natural widths only)
    fit: Fit | None = None

    def on_key(self, event: events.Key) -> None:
        """Text typed here never acts on a row: it goes to the screen's search field
        (see :meth:`BaseScreen.search_field`), which takes the focus and the key."""
        if not event.is_printable or event.key in self.screen.active_bindings:
            return  # a key bound here (e.g. "/" for the search) does what it says
        finder = getattr(self.screen, "search_field", None)
        field = finder(self) if callable(finder) else None
        if field is None:
            return
        event.stop()
        event.prevent_default()
        # focus now (``focus()`` waits a turn): the next keys go to the field, and its
        # Focus event (which selects the old text, so typing replaces it) precedes this key
        self.screen.set_focus(field)
        field.post_message(events.Key(event.key, event.character))
    _fitted: tuple[list[tuple[str, Any]], list[tuple[Any, list[Any]]]] | None = None
    _fit_layout: list[tuple[str, int]] | None = None
    _fit_short = False
    _fit_width = -1

    async def _on_idle(self, event: events.Idle) -> None:
        measuring = self._require_update_dimensions
        await super()._on_idle(event)
        if measuring:
            self._clear_caches()
            self.refresh()

    def fill_fitted(self, columns: Sequence[tuple[str, Any]],
                    rows: Sequence[tuple[Any, Sequence[Any]]]) -> None:
        """Replace the rows (and the columns, when their widths change) with columns as
        wide as their contents, or, on a narrow table, fitted to it as :attr:`fit` says.

        ``columns`` are (key, label) pairs; ``rows`` (row key, cells in column order),
        a cell being a value, a Rich Text or a :class:`Short`. The table fits itself
        again when its width changes. Cursor and scrolling are the caller's.
        """
        self._fitted = (list(columns), [(key, list(cells)) for key, cells in rows])
        self._refit()

    def _room(self) -> int:
        """The width the columns may use (0 before layout); a vertical scrollbar aside."""
        width = self.size.width
        if width and self._fitted is not None \
                and len(self._fitted[1]) + self.header_height > self.size.height:
            width -= self.styles.scrollbar_size_vertical
        return max(width, 0)

    def _refit(self) -> None:
        assert self._fitted is not None
        columns, rows = self._fitted
        room = self._room()
        fit = self.fit or Fit()

        def natural(short: bool) -> dict[str, int]:
            widths = {key: _cell_width(label) for key, label in columns}
            for _row_key, cells in rows:
                for (key, _label), cell in zip(columns, cells, strict=False):
                    if isinstance(cell, Short):
                        cell = cell.short if short else cell.full
                    widths[key] = max(widths[key], _cell_width(cell))
            return widths

        pad = 2 * self.cell_padding
        widths, short = natural(False), False
        if room and sum(w + pad for w in widths.values()) > room and any(
                isinstance(cell, Short) for _key, cells in rows for cell in cells):
            widths, short = natural(True), True
        if room:
            # a column with nothing in it (e.g. no entry names a patient) goes first
            empty = tuple(key for index, (key, _label) in enumerate(columns) if rows and not any(
                _cell_width(cells[index].full if isinstance(cells[index], Short) else cells[index])
                for _key, cells in rows))
            fit = Fit(fit.flex, empty + tuple(k for k in fit.drop if k not in empty),
                      fit.minimum)
            widths = fit_widths(widths, room, fit, pad)
        layout = [(key, widths[key]) for key, _label in columns if key in widths]
        if layout != self._fit_layout:
            self.clear(columns=True)
            for key, label in columns:
                if key in widths:
                    self.add_column(label, key=key, width=widths[key])
            self._fit_layout = layout
        else:
            self.clear()
        self._fit_short = short
        self._fit_width = room
        for row_key, cells in rows:
            self.add_row(*(self.fitted_cell(key, cell) for (key, _label), cell
                           in zip(columns, cells, strict=False) if key in widths), key=row_key)

    def fitted_cell(self, key: str, cell: Any) -> Any:
        """A cell as the fitted column ``key`` shows it: the short form if the table uses
        those, as Text (never read as markup), cut with an ellipsis when too wide."""
        if isinstance(cell, Short):
            cell = cell.short if self._fit_short else cell.full
        text = cell if isinstance(cell, Text) else Text(str(cell))
        width = dict(self._fit_layout or ()).get(key)
        if width is not None and text.cell_len > width:
            text = text.copy()
            text.overflow = "ellipsis"
        return text

    @property
    def fitted_columns(self) -> list[str]:
        """The keys of the columns :meth:`fill_fitted` shows now, in order."""
        return [key for key, _width in self._fit_layout or ()]

    def refit_row(self, row_key: str, cells: Sequence[Any]) -> None:
        """Change one row of a fitted table in place (the column widths stay)."""
        if self._fitted is None:
            return
        columns, rows = self._fitted
        self._fitted = (columns, [(key, list(cells) if key == row_key else old)
                                  for key, old in rows])
        shown = self.fitted_columns
        for (column, _label), cell in zip(columns, cells, strict=False):
            if column in shown:
                self.update_cell(row_key, column, self.fitted_cell(column, cell))

    def on_resize(self, event: events.Resize) -> None:
        if self._fitted is None or self._room() == self._fit_width:
            return
        row, scroll_y = self.cursor_row, self.scroll_y
        self._refit()
        refilled(self, scroll_y)
        if self.row_count:
            self.move_cursor(row=min(max(row, 0), self.row_count - 1), animate=False)


class FooterEntry(Widget):
    """One key in the footer: the key, then what it does; a click presses the key."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"footer-entry--key", "footer-entry--description"}
    DEFAULT_CSS = """
    FooterEntry {
        width: auto;
        height: 1;
        text-wrap: nowrap;
        background: $footer-item-background;
        .footer-entry--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .footer-entry--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        &:hover {
            pointer: pointer;
            color: $footer-key-foreground;
            background: $block-hover-background;
        }
        &.-disabled { text-style: dim; }
        &.-compact { margin-right: 1; }
    }
    """

    def __init__(self, key: str, display: str, description: str, *, compact: bool,
                 disabled: bool = False, tooltip: str = "", classes: str = "") -> None:
        super().__init__(classes=classes, disabled=disabled)
        self.key, self.key_display, self.description = key, display, description
        self.compact = compact
        self.set_class(compact, "-compact")
        if tooltip:
            self.tooltip = tooltip

    def render(self) -> Text:
        key_style = self.get_component_rich_style("footer-entry--key")
        text_style = self.get_component_rich_style("footer-entry--description")
        if self.compact:
            return Text.assemble((self.key_display, key_style),
                                 (f" {self.description}", text_style))
        return Text.assemble((f" {self.key_display} ", key_style),
                             (f"{self.description} ", text_style))

    def on_click(self) -> None:
        if not self.disabled:
            self.app.simulate_key(self.key)


class AppFooter(Widget):
    """The key footer, fitted to the terminal: when the keys do not fit it turns compact,
    then uses the short labels of ``keys.FOOTER_SHORT``, then leaves out the keys named
    in ``keys.FOOTER_OPTIONAL`` (first named first), then keys from its right end, except
    those of ``keys.FOOTER_KEEP`` (F2/F3/F4/F10), which every screen shows. Every action
    stays in the command palette, whose key is always shown. Built from the screen's
    public bindings (``active_bindings``, ``bindings_updated_signal``)."""

    DEFAULT_CSS = """
    AppFooter {
        layout: horizontal;
        color: $footer-foreground;
        background: $footer-background;
        dock: bottom;
        height: 1;
        scrollbar-size: 0 0;
        FooterEntry.-command-palette {
            dock: right;
            padding-right: 1;
            border-left: vkey $foreground 20%;
        }
        FooterEntry.-command-palette.-compact { padding-right: 0; margin-right: 0; }
    }
    """

    _shown: tuple[Any, ...] | None = None  # what the last compose showed
    _ready = False  # the screen has published its bindings once

    def _plan(self) -> tuple[bool, list[tuple[str, str, str, str, bool, str]], Any]:
        """(compact, the keys to show as (key, display, label, action, enabled, tooltip),
        the palette binding entry or None) for the current bindings and width."""
        from .keys import FOOTER_KEEP, FOOTER_OPTIONAL, FOOTER_SHORT

        active = self.screen.active_bindings
        entries: dict[str, tuple[Any, bool, str]] = {}
        for _node, binding, enabled, tooltip in active.values():
            if binding.show:
                entries.setdefault(binding.action, (binding, enabled, tooltip))
        chosen = list(entries.values())
        palette = active.get(self.app.COMMAND_PALETTE_BINDING) \
            if self.app.ENABLE_COMMAND_PALETTE else None
        width = self.size.width or self.app.size.width

        def label(binding: Any, short: bool) -> str:
            return FOOTER_SHORT.get(binding.id or "", binding.description) if short \
                else binding.description

        def fits(keys: list[tuple[Any, bool, str]], compact: bool, short: bool) -> bool:
            used = sum(cell_len(self.app.get_key_display(b)) + cell_len(label(b, short))
                       + (2 if compact else 3) for b, _e, _t in keys)
            if palette is not None:
                used += cell_len(self.app.get_key_display(palette[1])) \
                    + cell_len(palette[1].description) + (2 if compact else 5)
            return used <= width

        for compact, short in ((False, False), (True, False), (True, True)):
            if fits(chosen, compact, short):
                break
        else:
            everything = chosen
            dropped = []
            for key_id in FOOTER_OPTIONAL:
                if fits(chosen, compact, short):
                    break
                dropped += [entry for entry in chosen if entry[0].id == key_id]
                chosen = [entry for entry in chosen if entry[0].id != key_id]
            while not fits(chosen, compact, short):
                # from the right end, but never the keys every screen keeps (F2/F3/F4/F10)
                spare = [n for n, entry in enumerate(chosen) if entry[0].id not in FOOTER_KEEP]
                if not spare:
                    break
                dropped.append(chosen.pop(spare[-1]))
            for entry in reversed(dropped):  # put back what still fits, the least optional first
                keep = {id(e) for e in chosen} | {id(entry)}
                candidate = [e for e in everything if id(e) in keep]
                if not fits(candidate, compact, short):
                    break
                chosen = candidate
        keys = [(b.key, self.app.get_key_display(b), label(b, short), b.action, enabled,
                 tooltip) for b, enabled, tooltip in chosen]
        if palette is not None:
            _node, binding, enabled, _tooltip = palette
            palette = (binding.key, self.app.get_key_display(binding), binding.description,
                       binding.action, enabled, binding.tooltip or binding.description)
        return compact, keys, palette

    def compose(self) -> ComposeResult:
        if not self._ready:
            return
        compact, keys, palette = self._plan()
        self._shown = (compact, keys, palette)
        for key, display, label, _action, enabled, tooltip in keys:
            yield FooterEntry(key, display, label, compact=compact, disabled=not enabled,
                              tooltip=tooltip)
        if palette is not None:
            key, display, label, _action, enabled, tooltip = palette
            yield FooterEntry(key, display, label, compact=compact, disabled=not enabled,
                              tooltip=tooltip, classes="-command-palette")

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def bindings_changed(self, screen: Screen) -> None:
        self._ready = True
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self.update_keys)

    async def update_keys(self) -> None:
        """Rebuild the keys only when what they show changed: focus moves and resizes ask
        for several rebuilds in a row (~25 ms each, nothing paints meanwhile), most of
        them for the same keys."""
        if self._ready and self.is_attached and (self._shown is None
                                                 or self._plan() != self._shown):
            await self.recompose()

    def on_resize(self, event: events.Resize) -> None:
        if self._ready:
            self.call_after_refresh(self.update_keys)


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
