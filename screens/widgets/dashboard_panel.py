"""What the dashboard's role panels share: showing an empty-list line, and telling the
dashboard to fetch again after a change made on a panel."""

from __future__ import annotations

from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from ..base import ServiceMixin


class DashboardPanel(ServiceMixin, Widget):
    """A role's part of the dashboard: ``show(data)`` fills it from the dashboard
    service's answer; :class:`Stale` asks the dashboard to fetch again."""

    class Stale(Message):
        """Something shown changed here: the dashboard fetches again."""

    def _empty(self, selector: str, text: str, rows: int) -> None:
        label = self.query_one(selector, Static)
        label.update(text if not rows else "")
        label.display = not rows
