"""The key footer: every screen's keys fitted to the terminal's width."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget


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
        from ..keys import FOOTER_KEEP, FOOTER_OPTIONAL, FOOTER_SHORT

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
        palette_key = None
        if palette is not None:
            _node, binding, enabled, _tooltip = palette
            palette_key = (binding.key, self.app.get_key_display(binding), binding.description,
                           binding.action, enabled, binding.tooltip or binding.description)
        return compact, keys, palette_key

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

    def bindings_changed(self, screen: Screen[Any]) -> None:
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
