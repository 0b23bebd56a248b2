"""The base of the administration lists (users, audit log): one page of records in a
fitted table, paging, a debounced filter, and the service's refusal shown in place."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from textual.timer import Timer
from textual.widgets import Static

from ..base import BaseScreen, error_text
from .table import Fit, Table, refilled

#: the one way the administration screens write a moment (as the filters ask for days)
STAMP = "%Y-%m-%d %H:%M"


def stamp(value: Any, seconds: bool = False) -> str:
    """A stored time for a cell or a detail line: '2026-03-04 13:50' (':05' with seconds)."""
    if isinstance(value, datetime):
        return f"{value:{STAMP}:%S}" if seconds else f"{value:{STAMP}}"
    return "—" if value in (None, "") else str(value)


def clip(text: Any, width: int) -> str:
    """Shorten text to ``width`` characters with an ellipsis."""
    value = "" if text is None else str(text)
    return value if len(value) <= width else value[: width - 1] + "…"


class AdminListScreen(BaseScreen):
    """What the users and audit screens share: one page in a table, paging, the refusal."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    #: the policy action that lets a role use the screen
    POLICY_ACTION = ""
    TITLE = ""
    PAGE_SIZE = 50
    TABLE_ID = ""
    #: the table's (key, label) columns, and how they give way on a narrow terminal
    COLUMNS: tuple[tuple[str, str], ...] = ()
    FIT = Fit()

    def __init__(self) -> None:
        super().__init__()
        self.page_no = 1
        self.pages = 1
        self.rows: dict[str, dict[str, Any]] = {}
        self.title_text = self.TITLE
        self.to_top = False  # a new page or new filters start at the first row
        self._debounce: Timer | None = None

    @property
    def permitted(self) -> bool:
        """Whether the role may use this screen (decides what is offered; the service decides)."""
        return self.permissions.may(self.POLICY_ACTION)

    @property
    def table(self) -> Table:
        return self.query_one(f"#{self.TABLE_ID}", Table)

    def make_table(self) -> Table:
        """The screen's table, its columns named (they are fitted when rows come)."""
        table = Table(id=self.TABLE_ID, cursor_type="row", zebra_stripes=True)
        for key, label in self.COLUMNS:
            table.add_column(label, key=key)
        return table

    @property
    def selected(self) -> dict[str, Any] | None:
        """The record under the table's cursor."""
        table = self.table
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - the cursor is outside the rows
            return None
        return self.rows.get(str(key))

    def fill(self, items: list[dict[str, Any]],
             cells: Callable[[dict[str, Any]], Sequence[Any]]) -> None:
        """Replace the rows, keeping the cursor on the same record (or at the same place)."""
        table = self.table
        old = self.selected
        old_row, scroll_y = table.cursor_row, table.scroll_y
        self.rows = {item["id"]: item for item in items}
        table.fit = self.FIT
        table.fill_fitted(self.COLUMNS, [(item["id"], list(cells(item))) for item in items])
        refilled(table, 0 if self.to_top else scroll_y)
        to_top, self.to_top = self.to_top, False
        if not items:
            return
        if to_top:
            row = 0
        elif old is not None and old["id"] in self.rows:
            row = table.get_row_index(old["id"])
        else:
            row = min(max(old_row, 0), len(items) - 1)
        table.move_cursor(row=row, animate=False)

    def set_title(self, text: str | None = None, *, loading: bool = False) -> None:
        """The title line: what is shown, and 'loading…' while a fetch runs.

        (The table is not put in a loading state: that would take its focus away.)
        """
        if text is not None:
            self.title_text = text
        title = self.query_one(".screen-title", Static)
        title.update(self.title_text + (" · loading…" if loading else ""))

    def denied(self, exc: BaseException) -> None:
        """Show the refusal instead of the screen's content."""
        self.set_title(self.TITLE)
        message = self.query_one(".denied", Static)
        message.update(error_text(exc))
        message.display = True
        for widget in self.query(".admin-content"):
            widget.display = False
        self.refresh_bindings()

    def action_page(self, delta: int) -> None:
        target = min(max(1, self.page_no + delta), self.pages)
        if target != self.page_no:
            self.page_no, self.to_top = target, True
            self.reload()

    def action_focus_table(self) -> None:
        if self.permitted:
            self.table.focus()

    def debounce(self, callback: Callable[[], object], delay: float = 0.3) -> None:
        """Run ``callback`` once typing pauses."""
        self.cancel_debounce()
        self._debounce = self.set_timer(delay, callback)

    def cancel_debounce(self) -> None:
        """Forget a pending :meth:`debounce` (Enter applies at once)."""
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "page":
            if not self.permitted or not parameters:
                return False
            delta = int(str(parameters[0]))
            return self.page_no + delta >= 1 and self.page_no + delta <= self.pages
        return True

    def page_text(self, total: int, noun: str) -> str:
        plural = noun if total == 1 else noun + "s"
        text = f"{total} {plural}"
        if self.pages > 1:
            text += f" · page {self.page_no} of {self.pages} (PgUp/PgDn)"
        return text
