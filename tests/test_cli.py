"""The ``meditrack`` command, run as a real process on temporary data directories."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from meditrack_tui import __version__
from meditrack_tui import config as config_module
from meditrack_tui.config import Config
from meditrack_tui.errors import StoreUnavailable

UNREACHABLE = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=1000"
DB_FILE = "meditrack.db"  # the embedded store's one database file in the data directory


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDITRACK_")}
    env["XDG_DATA_HOME"] = str(home / "xdg")
    env["HOME"] = str(home)
    env.update(extra)
    return env


def meditrack(home: Path, *args: str, input: str | None = None, timeout: float = 120,
              new_session: bool = False, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "meditrack_tui", *args], input=input,
                          capture_output=True, text=True, timeout=timeout,
                          env=clean_env(home, **env), cwd=home,
                          start_new_session=new_session)


def counts(data_dir: Path) -> dict[str, int]:
    from meditrack_tui.store import connect
    from tests.peek import Peek

    store = connect(Config(data_dir=data_dir))
    try:
        peek = Peek(store)
        mrns = [d["mrn"] for d in peek.all("patients")]
        assert len(mrns) == len(set(mrns))
        users = peek.count("users")
        assert users == store.users.count()
        return {"users": users, "patients": len(mrns),
                "appointments": peek.count("appointments")}
    finally:
        store.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A data directory seeded with the demo clinic by ``meditrack seed --demo``."""
    home = tmp_path_factory.mktemp("cli-home")
    result = meditrack(home, "seed", "--demo", "--data-dir", str(home / "data"))
    return home / "data", result


def test_help_mentions_every_environment_variable(tmp_path):
    result = meditrack(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    names = [value for key, value in vars(config_module).items() if key.startswith("ENV_")]
    assert len(names) >= 8
    for name in names:
        assert name in result.stdout, f"--help does not mention {name}"
    for command in ("seed", "create-admin", "--data-dir", "--demo"):
        assert command in result.stdout


def test_version(tmp_path):
    result = meditrack(tmp_path, "--version")
    assert result.returncode == 0 and __version__ in result.stdout


def test_seed_demo_loads_once(seeded, tmp_path):
    data_dir, first = seeded
    assert first.returncode == 0, first.stderr
    assert "Loaded the demo clinic: 5 users, 40 patients" in first.stdout
    assert counts(data_dir) == {"users": 5, "patients": 40, "appointments": 83}
    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy)
    again = meditrack(tmp_path, "seed", "--demo", "--data-dir", str(copy))
    assert again.returncode == 0, again.stderr
    assert "already has data" in again.stdout and "Loaded" not in again.stdout
    assert counts(copy)["patients"] == 40
    # The signing secret was created with owner-only permissions.
    assert (data_dir / "secret.key").stat().st_mode & 0o077 == 0


def test_seed_patients_adds_that_many(seeded, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(seeded[0], copy)
    result = meditrack(tmp_path, "seed", "--patients", "50", "--data-dir", str(copy))
    assert result.returncode == 0, result.stderr
    assert "Added 50 patients" in result.stdout
    assert "Traceback" not in result.stderr
    after = counts(copy)
    assert after["patients"] == 90 and after["users"] == 5


def test_seed_patients_on_an_empty_store(tmp_path):
    result = meditrack(tmp_path, "seed", "--patients", "50", "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 0, result.stderr
    assert counts(tmp_path / "d")["patients"] == 50


def test_seed_refuses_a_non_positive_count(tmp_path):
    result = meditrack(tmp_path, "seed", "--patients", "0", "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--patients must be at least 1" in result.stderr
    assert not (tmp_path / "d").exists()  # refused before anything was opened or loaded


def test_create_admin_is_refused_when_users_exist(seeded, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(seeded[0], copy)
    result = meditrack(tmp_path, "create-admin", "--data-dir", str(copy),
                       input="intruder\nIn Truder\nintruder-password\nintruder-password\n",
                       new_session=True)
    assert result.returncode == 1
    assert "An administrator already exists" in result.stdout
    assert counts(copy)["users"] == 5


def test_create_admin_on_an_empty_store(tmp_path):
    data_dir = tmp_path / "data"
    bad = meditrack(tmp_path, "create-admin", "--data-dir", str(data_dir),
                    input="first.admin\nFirst Admin\nfirst-admin-pw1\nsomething-else\n",
                    new_session=True)
    assert bad.returncode == 1 and "do not match" in bad.stderr
    assert counts(data_dir)["users"] == 0
    weak = meditrack(tmp_path, "create-admin", "--data-dir", str(data_dir),
                     input="first.admin\nFirst Admin\nshort\nshort\n", new_session=True)
    assert weak.returncode == 1 and "at least 10 characters" in weak.stderr
    assert "Traceback" not in weak.stderr
    good = meditrack(tmp_path, "create-admin", "--data-dir", str(data_dir),
                     input="first.admin\nFirst Admin\nfirst-admin-pw1\nfirst-admin-pw1\n",
                     new_session=True)
    assert good.returncode == 0, good.stderr
    assert "Created the administrator first.admin" in good.stdout
    from meditrack_tui.services import Services
    from meditrack_tui.store import connect

    cfg = Config(data_dir=data_dir)
    store = connect(cfg)
    try:
        session = Services(store, cfg).auth.login("first.admin", "first-admin-pw1")
        assert session.role == "admin"
    finally:
        store.close()


@pytest.mark.parametrize("args", [("seed",), ("seed", "--patients", "3"), ("create-admin",)])
def test_unreachable_mongodb_is_a_clear_message(tmp_path, args):
    started = time.monotonic()
    result = meditrack(tmp_path, *args, "--data-dir", str(tmp_path / "d"), input="",
                       timeout=60, new_session=True, MEDITRACK_MONGO_URI=UNREACHABLE)
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"took {elapsed:.1f} s"
    assert result.returncode == 1
    assert "Cannot reach MongoDB at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_invalid_mongodb_uri_is_a_clear_message(tmp_path):
    result = meditrack(tmp_path, "seed", input="", timeout=60,
                       MEDITRACK_MONGO_URI="mongodb://host:notaport/")
    assert result.returncode == 1
    assert "not valid" in result.stderr and "Traceback" not in result.stderr


def test_demo_never_uses_the_configured_mongodb(tmp_path):
    """--demo seeds its own embedded store even when a clinic's MongoDB is configured."""
    data = tmp_path / "demo-data"
    result = meditrack(tmp_path, "seed", "--demo", "--data-dir", str(data), timeout=60,
                       MEDITRACK_MONGO_URI=UNREACHABLE)
    assert result.returncode == 0, result.stderr
    assert "ignoring MEDITRACK_MONGO_URI" in result.stdout
    assert "Loaded the demo clinic" in result.stdout
    assert (data / DB_FILE).is_file()
    refused = meditrack(tmp_path, "--demo", "--mongo-uri", UNREACHABLE, timeout=60)
    assert refused.returncode == 2
    assert "--demo runs on the embedded store" in refused.stderr


def test_options_before_the_subcommand_are_kept(tmp_path):
    """'meditrack --data-dir X seed' seeds X (not the default data directory)."""
    data = tmp_path / "given-first"
    result = meditrack(tmp_path, "--data-dir", str(data), "seed", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Loaded the demo clinic" in result.stdout
    assert (data / DB_FILE).is_file()


def test_invalid_number_in_environment(tmp_path):
    result = meditrack(tmp_path, "seed", "--demo", "--data-dir", str(tmp_path / "d"),
                       MEDITRACK_LOCKOUT_MINUTES="soon")
    assert result.returncode == 2
    assert "MEDITRACK_LOCKOUT_MINUTES must be a number" in result.stderr
    assert "Traceback" not in result.stderr


def test_connect_to_unreachable_mongodb_raises_store_unavailable(tmp_path):
    from meditrack_tui.store import connect

    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        connect(Config(data_dir=tmp_path, mongo_uri="mongodb://127.0.0.1:1"))
    assert time.monotonic() - started < 10
    assert "127.0.0.1:1" in info.value.message


def test_credentials_are_not_shown_in_messages(tmp_path):
    from meditrack_tui.store import connect

    uri = "mongodb://clinic:s3cret-pass@127.0.0.1:1/?serverSelectionTimeoutMS=500"
    with pytest.raises(StoreUnavailable) as info:
        connect(Config(data_dir=tmp_path, mongo_uri=uri))
    assert "s3cret-pass" not in info.value.message and "127.0.0.1:1" in info.value.message


def test_data_dir_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = meditrack(tmp_path, "seed", "--demo", "--data-dir", str(blocker / "data"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and str(blocker) in result.stderr


@pytest.mark.parametrize("argv", [
    [], ["--demo"], ["--data-dir", "seed"], ["--data-dir=x", "--idle-lock", "5"],
    ["--mongo-uri", "mongodb://h", "--db-name", "run"], ["--data-dir", "x", "seed"],
    ["seed", "--patients", "3"], ["--data", "x"], ["run"], ["bogus"], ["--help"],
])
def test_the_parser_without_subcommands_reads_what_it_accepts_alike(argv, capsys):
    """Options only (a value may look like a command name) parse to the same namespace
    with or without the subcommands; a command, a word argparse would complete, or the
    help gets the whole parser."""
    from meditrack_tui.cli import build_parser, only_starts_the_app

    light = only_starts_the_app(argv)
    assert light == (argv in ([], ["--demo"], ["--data-dir", "seed"],
                             ["--data-dir=x", "--idle-lock", "5"],
                             ["--mongo-uri", "mongodb://h", "--db-name", "run"]))
    if light:
        assert build_parser(commands=False).parse_args(argv) == build_parser().parse_args(argv)
