"""``meditrack serve``: the address policy and the command each browser session runs (no
browser here; tests/test_browser.py drives a real one)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from meditrack_tui.screens.serve import (
    ServeRefused,
    check_address,
    check_public_url,
    is_loopback,
    session_command,
    session_environment,
)

from meditrack_tui.config import ENV_MONGO_URI, Config
from tests.test_cli import meditrack


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "::1", "[::1]", "localhost"])
def test_loopback_addresses_are_served_without_a_warning(host):
    assert is_loopback(host)
    assert check_address(host, 8000, public=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1"])
def test_other_addresses_are_refused_without_public(host):
    assert not is_loopback(host)
    with pytest.raises(ServeRefused, match="--public"):
        check_address(host, 8000, public=False)


def test_public_gives_a_tls_warning():
    warning = check_address("0.0.0.0", 8443, public=True)
    assert warning and "TLS reverse proxy" in warning and "8443" in warning


def test_a_port_out_of_range_is_refused():
    with pytest.raises(ServeRefused, match="65535"):
        check_address("127.0.0.1", 70000, public=False)


def test_public_url_is_an_origin():
    assert check_public_url("https://meditrack.example.org/") == "https://meditrack.example.org"
    for bad in ("meditrack.example.org", "ftp://x", "https://x/app", "https://x/?a=1"):
        with pytest.raises(ServeRefused):
            check_public_url(bad)


def test_each_session_runs_this_meditrack_on_the_same_store(tmp_path: Path):
    cfg = Config(data_dir=tmp_path / "data with space", mongo_uri="mongodb://u:pw@db/",
                 db_name="clinic")
    argv = shlex.split(session_command(cfg, demo=False, idle_lock=5))
    assert argv[:3] == [sys.executable, "-m", "meditrack_tui"]
    assert argv[argv.index("--data-dir") + 1] == str(tmp_path / "data with space")
    assert argv[argv.index("--db-name") + 1] == "clinic"
    assert argv[argv.index("--idle-lock") + 1] == "5.0"
    assert argv[-1] == "run"
    # the URI (it may hold a password) is never on a command line, only in the environment
    assert not any("mongodb" in a for a in argv)
    assert session_environment(cfg, demo=False)[ENV_MONGO_URI] == "mongodb://u:pw@db/"


def test_the_demo_session_never_gets_a_mongodb_uri(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(ENV_MONGO_URI, "mongodb://clinic/")
    cfg = Config(data_dir=tmp_path / "demo")
    assert "--demo" in shlex.split(session_command(cfg, demo=True, idle_lock=None))
    assert ENV_MONGO_URI not in session_environment(cfg, demo=True)


def test_cli_refuses_a_public_address_before_touching_the_store(tmp_path: Path):
    result = meditrack(tmp_path, "serve", "--host", "0.0.0.0", "--data-dir",
                       str(tmp_path / "data"))
    assert result.returncode == 2
    assert "0.0.0.0 is not a loopback address" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_cli_says_when_the_port_cannot_be_had(tmp_path: Path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = meditrack(tmp_path, "serve", "--port", str(port), "--data-dir",
                           str(tmp_path / "data"))
    assert result.returncode == 2, result.stderr
    assert f"could not listen on 127.0.0.1 port {port}" in result.stderr
    assert "Traceback" not in result.stderr
