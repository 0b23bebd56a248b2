"""``meditrack serve``: MediTrack in a browser through textual-serve.

textual-serve is a small web server (aiohttp): it serves a page with a terminal (xterm.js)
and, for each browser session's websocket, starts ONE process of a command and relays the
terminal between them. That command here is the same ``meditrack`` a terminal user runs,
with the same data directory or database, so each browser session is its own app process
under the account running ``meditrack serve``, and the app's own login is the gate (there
is no separate web login). A saved copy of a report reaches the browser as a download
through Textual's ``deliver_binary`` (the app knows it runs in a browser: ``App.is_web``).

The server binds the loopback interface by default: in production it sits behind a TLS
reverse proxy on the same machine (docs/deploy.md). Any other address is refused unless
``--public`` is given, and then a warning says that a TLS proxy is still required: the
server itself speaks plain HTTP, so passwords and patient data would cross the network
in clear text.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import socket
import sys
from urllib.parse import urlsplit

from meditrack_tui.config import ENV_MONGO_URI, Config

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

PUBLIC_WARNING = (
    "WARNING: MediTrack is serving on {host}, an address other computers can reach, over "
    "plain HTTP. Passwords and patient records would cross the network unencrypted: put a "
    "TLS reverse proxy (nginx or Caddy, see docs/deploy.md) in front of it and let nobody "
    "reach port {port} directly.")


class ServeRefused(ValueError):
    """The server was not started: the sentence says why and what to do."""


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback address (127.0.0.0/8, ::1).

    A name other than ``localhost`` is resolved: a name that also resolves to a network
    address is not loopback. A name that does not resolve is not loopback either.
    """
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(str(a).split("%", 1)[0]).is_loopback for a in addresses)


def check_address(host: str, port: int, public: bool) -> str | None:
    """Refuse an address the server must not bind; returns the warning to print, if any."""
    if not 1 <= port <= 65535:
        raise ServeRefused(f"--port must be a port number from 1 to 65535, got {port}.")
    if is_loopback(host):
        return None
    if not public:
        raise ServeRefused(
            f"{host} is not a loopback address, so other computers could reach MediTrack "
            "over plain HTTP. Serve on 127.0.0.1 behind a TLS reverse proxy (see "
            "docs/deploy.md), or add --public if a TLS proxy on another machine forwards "
            "to this address.")
    return PUBLIC_WARNING.format(host=host, port=port)


def check_public_url(url: str) -> str:
    """The address browsers use (the proxy's https:// URL); the page's links are built on it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query \
            or parts.fragment or parts.path not in ("", "/"):
        raise ServeRefused(
            f"--public-url must be the address browsers open, such as "
            f"https://meditrack.example-clinic.org, with no path; got {url!r}.")
    return f"{parts.scheme}://{parts.netloc}"


def session_command(config: Config, *, demo: bool, idle_lock: float | None) -> str:
    """The shell command textual-serve runs for each browser session: this same MediTrack
    (the running interpreter, so the same installation) on the same store.

    The data directory and database name go on the command line; a MongoDB URI does not
    (it may hold a password, and a command line is visible to every account on the
    machine in ``ps``): the sessions inherit it from the environment (see ``serve``).
    """
    argv = [sys.executable, "-m", "meditrack_tui", "--data-dir", str(config.data_dir)]
    if config.uses_mongodb:
        argv += ["--db-name", config.db_name]
    if demo:
        argv.append("--demo")
    if idle_lock:
        argv += ["--idle-lock", repr(float(idle_lock))]
    argv.append("run")
    return shlex.join(argv)


def session_environment(config: Config, *, demo: bool) -> dict[str, str]:
    """The environment for the sessions: this one, with the MongoDB URI in effect (given
    by ``--mongo-uri`` or inherited), and none for the demo (it is always embedded)."""
    env = dict(os.environ)
    if config.mongo_uri and not demo:
        env[ENV_MONGO_URI] = config.mongo_uri
    else:
        env.pop(ENV_MONGO_URI, None)
    return env


def serve(config: Config, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          public: bool = False, public_url: str | None = None, demo: bool = False,
          idle_lock: float | None = None) -> int:
    """Run the web server until it is stopped (Ctrl+C or SIGTERM); returns the exit code."""
    warning = check_address(host, port, public)
    url = check_public_url(public_url) if public_url else None
    from meditrack_tui.cli import _seed_demo_if_empty, store_location
    from meditrack_tui.runtime import Backend

    # Open the store once before serving: a wrong data directory, permissions or an
    # unreachable database is reported here, not in every browser session; the demo clinic
    # is loaded once rather than by whichever session starts first.
    backend = Backend(config)
    try:
        backend.open()
        if demo:
            _seed_demo_if_empty(backend)
    finally:
        backend.close()
    from textual_serve.server import Server

    # textual-serve starts the sessions with its own copy of os.environ.
    os.environ.clear()
    os.environ.update(session_environment(config, demo=demo))
    command = session_command(config, demo=demo, idle_lock=idle_lock)
    server = Server(command, host=host, port=port, title="MediTrack", public_url=url)
    if warning:
        print(warning, file=sys.stderr)
    print(f"MediTrack for browsers on {store_location(config)}; each browser session runs "
          "its own MediTrack and logs in there.")
    if demo:
        from meditrack_tui.seed import DEMO_LOGINS, DEMO_PASSWORD

        print(f"Demo logins: {', '.join(DEMO_LOGINS)} (password: {DEMO_PASSWORD})")
    try:
        server.serve()
    except OSError as exc:  # the address is taken, not this machine's, or not allowed
        raise ServeRefused(
            f"MediTrack could not listen on {host} port {port} ({exc.strerror or exc}). "
            "Check that the address belongs to this machine, that no other program uses "
            "the port, and that ports below 1024 are left to the proxy.") from None
    return 0
