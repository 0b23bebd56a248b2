"""A small Chrome DevTools Protocol client for the browser test: headless Chromium (the
system's, from Debian's package) driven over its DevTools websocket with aiohttp's client
(aiohttp comes with textual-serve). No browser download, no Playwright.

The terminal on textual-serve's page is xterm.js, drawn on a canvas, so the screen's text
is read from xterm's own buffer API (``buffer.active.getLine(y).translateToString()``).
The page keeps its Terminal inside a bundled class; a script installed before the page's
own scripts (``Page.addScriptToEvaluateOnNewDocument``) notes the Terminal when the page
assigns it (a setter on ``terminal``), as ``window.__meditrackTerminal``. Keys are real
keyboard events (``Input.dispatchKeyEvent``) into the focused terminal.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

CAPTURE_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true,
                                             enumerable: true});
    if (value && value.buffer && typeof value.write === "function") {
      window.__meditrackTerminal = value;
    }
  },
});
"""

SCREEN_TEXT = """(() => {
  const t = window.__meditrackTerminal;
  if (!t) return null;
  const b = t.buffer.active, lines = [];
  for (let y = 0; y < t.rows; y++) {
    const line = b.getLine(b.viewportY + y);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines.join("\\n");
})()"""

# key name -> (DOM key, DOM code, Windows virtual key code, text typed)
KEYS: dict[str, tuple[str, str, int, str]] = {
    "Enter": ("Enter", "Enter", 13, "\r"),
    "Tab": ("Tab", "Tab", 9, ""),
    "Escape": ("Escape", "Escape", 27, ""),
    "Down": ("ArrowDown", "ArrowDown", 40, ""),
    "Up": ("ArrowUp", "ArrowUp", 38, ""),
    "Backspace": ("Backspace", "Backspace", 8, ""),
    "Insert": ("Insert", "Insert", 45, ""),
    **{f"F{n}": (f"F{n}", f"F{n}", 111 + n, "") for n in range(1, 13)},
}
CTRL = 2  # CDP modifier bit


class CDPError(RuntimeError):
    pass


class Browser:
    """One headless Chromium process and its DevTools connection."""

    def __init__(self, executable: str, workdir: Path, *extra_args: str) -> None:
        self.executable = executable
        self.workdir = workdir
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.events: dict[str | None, list[dict[str, Any]]] = {}
        self.reader: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 30) -> None:
        profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=self.workdir))
        self.log = open(self.workdir / "chromium.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [self.executable, "--headless", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--disable-sync", "--mute-audio",
             "--remote-debugging-port=0", f"--user-data-dir={profile}",
             "--window-size=1280,860", *self.extra_args, "about:blank"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise CDPError(f"Chromium did not start (see {self.workdir / 'chromium.log'})")
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data:
                future = self.pending.pop(data["id"], None)
                if future is not None and not future.done():
                    if "error" in data:
                        future.set_exception(CDPError(str(data["error"])))
                    else:
                        future.set_result(data.get("result", {}))
            else:
                self.events.setdefault(data.get("sessionId"), []).append(data)

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   session: str | None = None, timeout: float = 30) -> dict[str, Any]:
        assert self.ws is not None
        msg_id = next(self.ids)
        message: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[msg_id] = future
        await self.ws.send_str(json.dumps(message))
        return await asyncio.wait_for(future, timeout)

    async def new_page(self, block_web_fonts: bool = True) -> Page:
        """A new tab. ``block_web_fonts``: the page's Google Fonts link is refused by the
        browser itself, so the test never reaches out (the TLS proxy test leaves it to the
        documented CSP, and checks that the CSP refuses it)."""
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send("Target.attachToTarget",
                                   {"targetId": target["targetId"], "flatten": True})
        page = Page(self, attached["sessionId"])
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        await page.send("Network.enable")
        # offline and private: the page's web font link is not fetched (docs/deploy.md's CSP
        # blocks it too)
        if block_web_fonts:
            await page.send("Network.setBlockedURLs", {"urls": ["*fonts.googleapis.com*",
                                                                "*fonts.gstatic.com*"]})
        await page.send("Page.addScriptToEvaluateOnNewDocument", {"source": CAPTURE_TERMINAL})
        return page

    def events_of(self, page: Page, method: str) -> list[dict[str, Any]]:
        """The events of ``method`` the page's session has received so far (their params)."""
        return [e.get("params", {}) for e in self.events.get(page.session, [])
                if e.get("method") == method]

    async def stop(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        if self.ws is not None:
            await self.ws.close()
        if self.http is not None:
            await self.http.close()
        kill_group(self.process)
        self.log.close()


def kill_group(process: subprocess.Popen[Any] | None, grace: float = 5) -> None:
    """End a process started in its own session, and everything it started (by its group)."""
    if process is None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:  # whatever of the group is left (the leader may end before its children)
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(5)


class Page:
    """One browser tab, attached through a flat DevTools session."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    async def send(self, method: str, params: dict[str, Any] | None = None,
                   timeout: float = 30) -> dict[str, Any]:
        return await self.browser.send(method, params, self.session, timeout)

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", {"url": url})

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate",
                                 {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise CDPError(str(result["exceptionDetails"]))
        return result["result"].get("value")

    async def screen(self) -> str:
        return await self.evaluate(SCREEN_TEXT) or ""

    async def wait_text(self, *texts: str, timeout: float = 20, gone: bool = False) -> float:
        """Wait until the terminal shows every one of ``texts`` (or, with gone, none of them);
        returns the seconds it took."""
        began = time.monotonic()
        screen = ""
        while time.monotonic() - began < timeout:
            screen = await self.screen()
            present = [t in screen for t in texts]
            if (not any(present)) if gone else all(present):
                return time.monotonic() - began
            await asyncio.sleep(0.05)
        state = "still shown" if gone else "not shown"
        raise AssertionError(f"{texts!r} {state} after {timeout} s; the screen:\n{screen}")

    async def focus(self) -> None:
        """Bring this tab to the front and focus its terminal, as a person switching tabs
        does. The page tells the app when its terminal loses or gets the focus (textual-serve
        sends "blur"/"focus"; a blurred app does not take keys into its fields), and a
        headless tab brought to the front fires no focus event of its own: the terminal is
        blurred and focused again, so the app hears both."""
        await self.send("Page.bringToFront")
        await self.evaluate("window.__meditrackTerminal.blur(); "
                            "window.__meditrackTerminal.focus()")

    async def key(self, name: str) -> None:
        """Press a key: a name from KEYS, or ``ctrl+x``."""
        modifiers = 0
        if name.startswith("ctrl+"):
            letter = name[5:]
            key, code, vk, text, modifiers = letter, f"Key{letter.upper()}", \
                ord(letter.upper()), "", CTRL
        else:
            key, code, vk, text = KEYS[name]
        params = {"key": key, "code": code, "windowsVirtualKeyCode": vk,
                  "nativeVirtualKeyCode": vk, "modifiers": modifiers}
        await self.send("Input.dispatchKeyEvent",
                        {"type": "keyDown" if text else "rawKeyDown", "text": text, **params})
        await self.send("Input.dispatchKeyEvent", {"type": "keyUp", **params})

    async def type(self, text: str) -> None:
        """Type printable characters as key presses."""
        for ch in text:
            code = f"Key{ch.upper()}" if ch.isalpha() else (
                f"Digit{ch}" if ch.isdigit() else "")
            vk = ord(ch.upper()) if ch.isalnum() else 0
            params = {"key": ch, "code": code, "windowsVirtualKeyCode": vk}
            await self.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": ch, **params})
            await self.send("Input.dispatchKeyEvent", {"type": "keyUp", **params})

    async def click_text(self, text: str) -> None:
        """Click the middle of ``text`` where the terminal shows it (a real mouse click on
        the page; xterm.js passes it on to the app as a terminal mouse event)."""
        where = await self.evaluate("""(() => {
          const t = window.__meditrackTerminal, b = t.buffer.active;
          for (let y = 0; y < t.rows; y++) {
            const x = b.getLine(b.viewportY + y).translateToString(false).indexOf(TEXT);
            if (x >= 0) {
              const r = t.element.querySelector(".xterm-screen").getBoundingClientRect();
              return {x: r.left + (x + LENGTH / 2) * r.width / t.cols,
                      y: r.top + (y + 0.5) * r.height / t.rows};
            }
          }
          return null;
        })()""".replace("TEXT", json.dumps(text)).replace("LENGTH", str(len(text))))
        if where is None:
            raise AssertionError(f"{text!r} is not on the screen:\n{await self.screen()}")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent",
                            {"type": kind, "x": where["x"], "y": where["y"],
                             "button": "none" if kind == "mouseMoved" else "left",
                             "clickCount": 0 if kind == "mouseMoved" else 1})

    async def screenshot(self, path: Path) -> Path:
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None
