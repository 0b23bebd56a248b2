"""The floor for start-up: a minimal Textual app with one password field.

`benchmarks/startup_tmux.py` launches it beside MediTrack; the ratio of the two start-up
medians is the figure that matters (the same terminal, machine and load for both).
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Input


class MinimalLogin(App):
    def compose(self) -> ComposeResult:
        yield Input(password=True, placeholder="your password")


if __name__ == "__main__":
    MinimalLogin().run()
