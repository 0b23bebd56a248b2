"""The TLS reverse proxy of docs/deploy.md, tested for real.

docs/deploy.md quotes docs/nginx-meditrack.conf (a test below holds the two to the same
text). The browser test builds nginx's configuration FROM THAT FILE, changing only the
ports, the certificate's paths and the server name, runs Debian's nginx (installed with
apt-get when missing, as root; skipped, saying why, where it cannot be) as a child process
in front of ``meditrack serve``, with a throwaway self-signed certificate made by the
``openssl`` command. Headless Chromium (told to accept that certificate) loads
https://127.0.0.1:<port>/, the terminal works through the proxied websocket (demo.doctor
logs in and sees the dashboard), the responses carry the documented security headers, and
the console shows no Content-Security-Policy violation but the one the guide intends (the
Google Fonts stylesheet textual-serve's page links: no patient's browser calls a third
party). Every process and file is removed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cdp import Browser, kill_group
from tests.test_browser import (
    chromium,  # noqa: F401 (the fixture)
    free_port,
    install_debian,
    log_in,
    meditrack_serve,
)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "deploy.md"
CONF = ROOT / "docs" / "nginx-meditrack.conf"
SERVER_NAME = "meditrack.example-clinic.org"
NGINX = "/usr/sbin/nginx"

# the headers docs/deploy.md promises, and what each must say
SECURITY_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Strict-Transport-Security": "max-age=31536000",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
# the one violation the guide's CSP is meant to cause: textual-serve's page links a web
# font stylesheet from Google; the CSP keeps the browser from calling a third party
INTENDED_BLOCK = "fonts.googleapis.com"


def test_the_guide_quotes_the_tested_nginx_config() -> None:
    """The nginx block in docs/deploy.md is docs/nginx-meditrack.conf, byte for byte: the
    configuration the browser test runs is the one a clinic copies."""
    blocks = re.findall(r"```nginx\n(.*?)```\n", DOC.read_text(), flags=re.DOTALL)
    assert blocks == [CONF.read_text()]
    assert "docs/nginx-meditrack.conf" in DOC.read_text()


def find_nginx() -> str | None:
    return NGINX if os.access(NGINX, os.X_OK) else shutil.which("nginx")


def proxy_config(text: str, *, http_port: int, https_port: int, upstream: int,
                  cert: Path, key: Path) -> str:
    """The guide's configuration with only ports, certificate paths and server name
    changed; each change must find its text, so a changed guide fails here loudly."""
    changes = [
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl"),
        (f"/etc/letsencrypt/live/{SERVER_NAME}/fullchain.pem", str(cert)),
        (f"/etc/letsencrypt/live/{SERVER_NAME}/privkey.pem", str(key)),
        ("http://127.0.0.1:8000;", f"http://127.0.0.1:{upstream};"),
        (f"wss://{SERVER_NAME}", f"wss://127.0.0.1:{https_port}"),
        (f"server_name {SERVER_NAME};", "server_name 127.0.0.1;"),
    ]
    for old, new in changes:
        assert old in text, f"docs/nginx-meditrack.conf no longer has {old!r}"
        text = text.replace(old, new)
    assert SERVER_NAME not in text and "127.0.0.1:8000" not in text, text
    return text


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (Debian's openssl command)."""
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("the TLS proxy test needs the openssl command (Debian's openssl)")
    cert, key = folder / "cert.pem", folder / "key.pem"
    done = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return cert, key


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"nginx stopped:\n{log.read_text()}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            assert time.monotonic() < deadline, f"nginx is not listening:\n{log.read_text()}"
            time.sleep(0.05)


@contextmanager
def nginx_proxy(upstream: int, https_port: int) -> Iterator[tuple[int, Path, Path]]:
    """nginx (not a daemon, a child in its own process group) with the guide's config in
    front of ``upstream``, on ``https_port``; yields the HTTP port, the certificate and nginx's
    folder. Its folder is outside pytest's (whose parents are root's only): the workers run
    as nobody when the test is root, and write their temporary files there."""
    nginx = install_debian("nginx", find_nginx, "the TLS proxy test")
    folder = Path(tempfile.mkdtemp(prefix="meditrack-nginx-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        folder.chmod(0o755)
        cert, key = make_certificate(folder)
        http_port = free_port()
        (folder / "meditrack.conf").write_text(proxy_config(
            CONF.read_text(), http_port=http_port, https_port=https_port, upstream=upstream,
            cert=cert, key=key))
        temp = folder / "temp"
        temp.mkdir()
        user = ""
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(temp, nobody.pw_uid, nobody.pw_gid)
            user = "user nobody nogroup;"
        (folder / "nginx.conf").write_text(f"""\
daemon off;
{user}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {folder}/meditrack.conf;
}}
""")
        args = [nginx, "-p", str(folder), "-e", str(folder / "error.log"),
                "-c", str(folder / "nginx.conf")]
        check = subprocess.run([*args, "-t"], capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
        assert check.returncode == 0, f"nginx -t refused the guide's config:\n{check.stderr}"
        log = folder / "nginx.out"
        with open(log, "wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        wait_port(https_port, proc, folder / "error.log")
        wait_port(http_port, proc, folder / "error.log")
        yield http_port, cert, folder
    finally:
        kill_group(proc)
        shutil.rmtree(folder)


def fetch(url: str, cert: Path) -> tuple[int, dict[str, str], bytes]:
    """GET without following redirects, trusting only the throwaway certificate."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    context = ssl.create_default_context(cafile=str(cert))
    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(
        context=context))
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as answer:
        return answer.code, dict(answer.headers.items()), answer.read()


async def browse(executable: str, url: str, workdir: Path) -> tuple[list[str], float]:
    """demo.doctor logs in through the proxy; returns the console's CSP messages."""
    browser = Browser(executable, workdir, "--ignore-certificate-errors")
    await browser.start()
    try:
        page = await browser.new_page(block_web_fonts=False)  # the CSP must refuse them
        await page.send("Log.enable")
        began = time.monotonic()
        await log_in(page, url, "demo.doctor")
        await page.wait_text("Welcome", "Today")
        took = time.monotonic() - began
        await asyncio.sleep(0.5)  # late reports (a style or an image loaded after the login)
        texts = [e["entry"].get("text", "") for e in browser.events_of(page, "Log.entryAdded")]
        texts += [" ".join(str(a.get("value", a.get("description", ""))) for a in e["args"])
                  for e in browser.events_of(page, "Runtime.consoleAPICalled")]
        texts += [str(e["exceptionDetails"])
                  for e in browser.events_of(page, "Runtime.exceptionThrown")]
        return [t for t in texts if "Content Security Policy" in t], took
    finally:
        await browser.stop()


@pytest.mark.browser
@pytest.mark.slow
def test_meditrack_behind_the_documented_nginx(chromium: str,  # noqa: F811
                                               tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    began = time.monotonic()
    https_port = free_port()  # the page's links are built on the proxy's address
    with meditrack_serve(tmp_path, "--public-url", f"https://127.0.0.1:{https_port}") \
            as (serve_port, _data):
        timings["serve"] = time.monotonic() - began
        step = time.monotonic()
        with nginx_proxy(serve_port, https_port) as (http_port, cert, folder):
            timings["nginx (install, certificate, start)"] = time.monotonic() - step
            https = f"https://127.0.0.1:{https_port}/"

            # plain HTTP is sent to HTTPS; the page and its script carry the headers
            status, headers, _ = fetch(f"http://127.0.0.1:{http_port}/", cert)
            assert status == 301 and headers["Location"].startswith("https://"), headers
            status, headers, body = fetch(https, cert)
            assert status == 200 and b"textual-terminal" in body
            assert f"wss://127.0.0.1:{https_port}/ws".encode() in body  # serve's link
            script = re.search(rb'src="([^"]+\.js)"', body)
            assert script, body[:500]
            _, script_headers, _ = fetch(script.group(1).decode(), cert)
            for name, says in SECURITY_HEADERS.items():
                for got in (headers, script_headers):
                    assert says in got.get(name, ""), f"{name}: {got.get(name)!r}"

            step = time.monotonic()
            csp, took = asyncio.run(asyncio.wait_for(browse(chromium, https, tmp_path), 120))
            timings["browser: page to dashboard"] = took
            timings["browser (start to stop)"] = time.monotonic() - step
            print(f"CSP messages in the console: {csp}")
            # the CSP is enforced (the intended block is reported) and breaks nothing else
            assert any(INTENDED_BLOCK in text for text in csp), csp
            assert [t for t in csp if INTENDED_BLOCK not in t] == []
            access = (folder / "access.log").read_text()
            assert re.search(r'"GET /ws\?\S* HTTP/1.1" 101 ', access), access[-2000:]
    timings["total"] = time.monotonic() - began
    print("TLS proxy timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
