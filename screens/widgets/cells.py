"""How appointments and dates read on screen: status labels and colours, day and time
texts, and the few permission questions the appointment widgets ask (never a role
compared)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from rich.errors import StyleSyntaxError
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from meditrack_tui import policy
from meditrack_tui.domain import OPEN_STATUSES, AppointmentStatus, Permissions

from ..base import label_of
from .table import Short, short_day

# the statuses' labels, verbs and transitions are the domain's (meditrack_tui.domain);
# here only how they look
STATUS_STYLES = {AppointmentStatus.CHECKED_IN: "accent", AppointmentStatus.COMPLETED: "success",
                 AppointmentStatus.CANCELLED: "text-muted", AppointmentStatus.NO_SHOW: "warning"}
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_day(text: str) -> date | None:
    """A YYYY-MM-DD date, or None when the text is not one."""
    text = text.strip()
    if not DATE_RE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def day_text(day: date) -> str:
    return f"{day:%A %d %B %Y}"


def when_text(appt: dict[str, Any]) -> str:
    start = appt.get("start")
    return f"{start:%d %b %Y at %H:%M}" if isinstance(start, datetime) else "?"


def short_date(moment: Any) -> str:
    return f"{moment:%d %b %Y}" if isinstance(moment, datetime) else str(moment or "")


def date_cell(moment: Any, now: datetime) -> Short:
    """A date cell: '04 Mar 2026', or '04 Mar' on a narrow table."""
    return Short(Text(short_date(moment)), Text(short_day(moment, now)))


def is_open(status: Any) -> bool:
    """Still to happen (scheduled or checked in): it can be moved."""
    return status in OPEN_STATUSES


def status_label(status: Any) -> str:
    """'Checked in', 'No-show', ... (the domain's label for a stored status)."""
    return label_of(AppointmentStatus, status)


def styled(widget: Widget, text: str, variable: str | None) -> Text:
    """Text coloured with a theme variable (e.g. 'error'), never a literal colour."""
    if not variable:
        return Text(text)
    value = widget.app.theme_variables.get(variable, "")
    try:
        style = Style.parse(value) if value else Style()
    except StyleSyntaxError:  # e.g. 'auto 60%' (text-muted): not a Rich colour
        style = Style(dim=True)
    return Text(text, style=style)


def sees_every_patient(permissions: Permissions) -> bool:
    """Staff: may read every patient's appointments (a patient reads only their own)."""
    return permissions.scope("appointment.read") == policy.ANY


def keeps_an_agenda(permissions: Permissions) -> bool:
    """A doctor: has a day agenda of their own (the doctor's dashboard)."""
    return permissions.may("dashboard.doctor")


def books_for_self(permissions: Permissions) -> bool:
    """A patient: books only for their own record."""
    return permissions.scope("appointment.book") == policy.OWN
