"""The one table: a DataTable whose columns fit its width, whose rows are redrawn once
measured, and on which typed text goes to the screen's search field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import DataTable


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


class Table(DataTable[Any]):
    """A DataTable whose columns fit its width (:meth:`fill_fitted`).

    Every column gets an explicit width, measured here from its cells: a DataTable left
    to size auto-width columns on its idle event keeps rows it rendered before that in a
    cache whose key has no column widths (Textual issue #4470), so a table filled from a
    worker's result could stay clipped to its header widths until the cursor moved.
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
    _fit_labels: list[str] | None = None
    _fit_short = False
    _fit_width = -1

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
        labels = [str(label) for key, label in columns if key in widths]
        if layout != self._fit_layout or labels != self._fit_labels:  # e.g. a sort arrow
            self.clear(columns=True)
            for key, label in columns:
                if key in widths:
                    self.add_column(label, key=key, width=widths[key])
            self._fit_layout, self._fit_labels = layout, labels
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
