"""What the App does about the browser's own events (textual-serve): the page's focus, and
files handed to ``deliver_binary`` that did not arrive. A mixin of the App."""

from __future__ import annotations

from typing import Any

from textual.app import App


class BrowserEvents(App[Any]):
    """The App's handlers of the browser's events."""

    def on_app_focus(self) -> None:
        """The terminal has the focus again (in a browser, the page says so). Textual's web
        driver reports a blur as it starts, before the login screen is composed, so that
        screen never focused its first field, and Textual gives the focus back only to a
        widget focused before a blur: typing went nowhere. Focus the screen's first field if
        Textual's own handler (it runs after this one) restored nothing, before the next
        key (the keys typed next are already on their way)."""
        self.call_next(self._focus_if_none)

    def on_delivery_failed(self, event: Any) -> None:
        """A file handed to ``deliver_binary`` (a saved copy in a browser) did not arrive:
        say so, never nothing (Textual posts this to the App, with the delivery's name)."""
        self.log.error(f"delivery {event.name!r} failed: {event.exception!r}")
        what = str(event.name or "The file").removeprefix("report ")
        self.notify(f"{what} could not be delivered. Try again; if it fails again, ask the "
                    "clinic's administrator.", title="Download", severity="error",
                    markup=False)

    def _focus_if_none(self) -> None:
        screen = self.screen
        selector = screen.AUTO_FOCUS if screen.AUTO_FOCUS is not None else self.AUTO_FOCUS
        if screen.focused is not None or not selector:
            return
        for widget in screen.query(selector):
            if widget.focusable:
                widget.focus()
                return
