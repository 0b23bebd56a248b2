"""MediTrack over SSH, the VistA way, tested with the real thing (issue 13, item 1).

The end-to-end test (marker ``ssh``) needs root: it installs Debian's openssh-server and
tmux when missing, runs ``meditrack deploy ssh --write`` and the scripts it writes
(a throwaway service account, a file login, bind mounts), starts ``sshd -D`` on a loopback
port with a temporary host key, and then uses MediTrack over ``ssh -tt`` inside tmux and
SFTP into the inbox. Every account, mount, process and file it made is removed by the
fixture's finalizer, also when the test fails.

The short tests above it need nothing but Python.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import pytest

import meditrack_tui
from meditrack_tui import cli
from meditrack_tui.deploy import NO_FORWARDING, SshPlan
from meditrack_tui.refusals import no_terminal_refusal

REPO = Path(meditrack_tui.__file__).resolve().parents[1]


# --- without root: what deploy writes, and the forced command refusing commands ---


def _write(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "deploy"
    code = cli.main(["deploy", "ssh", "--account", "clinicapp", "--data-dir",
                     str(tmp_path / "srv" / "data"), "--files-root", str(tmp_path / "files"),
                     "--keys-dir", str(tmp_path / "keys"), "--write", str(out), *extra])
    assert code == 0
    return out


def test_deploy_ssh_writes_the_match_blocks_and_scripts(tmp_path: Path) -> None:
    out = _write(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == [
        "README.txt", "add-files-user.sh", "meditrack.conf", "setup.sh"]
    conf = (out / "meditrack.conf").read_text()
    app_block, files_block = conf.split("Match User clinicapp\n")[1].split(
        "Match Group clinicapp-files\n")
    meditrack = Path(sys.prefix) / "bin" / "meditrack"
    assert f"ForceCommand {meditrack} --data-dir {tmp_path / 'srv' / 'data'}\n" in app_block
    assert "PermitTTY yes" in app_block and "PermitTTY no" in files_block
    for rule in NO_FORWARDING:
        assert f"    {rule}\n" in app_block and f"    {rule}\n" in files_block
    assert f"ChrootDirectory {tmp_path / 'files'}/%u" in files_block
    assert "ForceCommand internal-sftp -d /inbox -u 077" in files_block
    assert "ChrootDirectory" not in app_block
    for script in ("setup.sh", "add-files-user.sh"):
        assert stat.S_IMODE((out / script).stat().st_mode) == 0o755
        subprocess.run(["sh", "-n", str(out / script)], check=True)  # the shell parses it


def test_deploy_ssh_refuses_a_chroot_holding_the_store(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["deploy", "ssh", "--data-dir", str(tmp_path / "files" / "data"),
                     "--files-root", str(tmp_path / "files")])
    assert code == 2
    assert "must be outside the data directory" in capsys.readouterr().err


def test_the_forced_command_refuses_a_command_with_a_sentence(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``ssh meditrack@server id`` runs the ForceCommand with SSH_ORIGINAL_COMMAND set: the
    app must not start (it would draw its screen at a client that asked for a command)."""
    monkeypatch.setenv("SSH_ORIGINAL_COMMAND", "/bin/sh -c id")
    monkeypatch.setattr(cli, "cmd_run", lambda *a: pytest.fail("the app was started"))
    assert cli.main(["--data-dir", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert "runs MediTrack only" in err and "ssh -t" in err


def _streams(request: pytest.FixtureRequest, *, terminal: bool) -> tuple[TextIO, TextIO]:
    """Standard input and output: a pseudo-terminal's, or pipes (as ``ssh -T`` gives the
    ForceCommand)."""
    if terminal:
        leader, follower = os.openpty()
        streams = os.fdopen(os.dup(follower)), os.fdopen(follower, "w")
        request.addfinalizer(lambda: os.close(leader))  # open while the terminal is used
    else:
        read, write = os.pipe()
        streams = os.fdopen(read), os.fdopen(write, "w")
    for stream in streams:
        request.addfinalizer(stream.close)
    return streams


SSH_ENV = {"SSH_CONNECTION": "127.0.0.1 50000 127.0.0.1 22"}
WEB_DRIVER = {"TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver"}  # textual-serve's


@pytest.mark.parametrize("environ,terminal,refused", [
    (SSH_ENV, False, True),        # ssh -T: pipes, no terminal
    ({}, False, True),             # meditrack < file | less, on the server
    (SSH_ENV, True, False),        # ssh -t
    ({}, True, False),             # a local terminal
    (WEB_DRIVER, False, False),    # a browser session of meditrack serve (textual-serve)
])
def test_the_app_needs_a_terminal_or_a_host_that_draws_it(
        request: pytest.FixtureRequest, environ: dict[str, str], terminal: bool,
        refused: bool) -> None:
    stdin, stdout = _streams(request, terminal=terminal)
    refusal = no_terminal_refusal(environ, stdin, stdout)
    assert (refusal is not None) is refused
    if refusal:
        assert refusal.startswith("MediTrack needs a terminal")
        assert ("ssh -t" in refusal) is ("SSH_CONNECTION" in environ)


def test_the_app_without_a_terminal_exits_with_the_sentence(tmp_path: Path) -> None:
    """``ssh -T meditrack@server`` runs the ForceCommand on pipes: the app must not start
    (it would draw nowhere until the client leaves)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MEDITRACK_", "SSH_", "TEXTUAL_"))}
    done = subprocess.run([sys.executable, "-m", "meditrack_tui", "--data-dir",
                           str(tmp_path / "data")], env={**env, **SSH_ENV},
                          stdin=subprocess.PIPE, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done
    assert done.stderr.startswith("meditrack: MediTrack needs a terminal: connect with "
                                  "'ssh -t "), done.stderr
    assert done.stdout == ""  # not a byte of a screen drawn into the pipe


def test_plan_refuses_paths_sshd_cannot_quote() -> None:
    plan = SshPlan("meditrack", Path("/var/lib/medi track/data"), Path("/srv/f"),
                   Path("/etc/m"), Path("/opt/meditrack/bin/meditrack"))
    with pytest.raises(ValueError, match="absolute path"):
        plan.check()


# --- the real thing: sshd, ssh -tt in tmux, sftp ---

APT_NEEDS = {"sshd": "openssh-server", "ssh": "openssh-client", "sftp": "openssh-client",
             "ssh-keygen": "openssh-client", "tmux": "tmux"}
SSHD = "/usr/sbin/sshd"


def _which(tool: str) -> str | None:
    if tool == "sshd":
        return SSHD if os.access(SSHD, os.X_OK) else None
    return shutil.which(tool)


def _ensure_tools() -> None:
    """openssh-server, openssh-client and tmux from Debian's packages when missing."""
    if os.geteuid() != 0:
        pytest.skip("the SSH deployment test needs root (it creates accounts, bind mounts "
                    "and runs sshd); run the suite as root, as .ci/run does")
    missing = sorted({pkg for tool, pkg in APT_NEEDS.items() if not _which(tool)})
    for tool in ("useradd", "userdel", "groupdel", "runuser", "mount", "umount", "mountpoint"):
        if not shutil.which(tool):
            pytest.skip(f"the SSH deployment test needs {tool} (a Debian system)")
    if not missing:
        return
    if not shutil.which("apt-get"):
        pytest.skip(f"the SSH deployment test needs {', '.join(missing)} and there is no "
                    "apt-get to install them")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    lock = ["-o", "DPkg::Lock::Timeout=300"]
    for cmd in (["apt-get", *lock, "update", "-qq"],
                ["apt-get", *lock, "install", "-y", "-q", *missing]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=900)
        assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    still = [tool for tool in APT_NEEDS if not _which(tool)]
    assert not still, f"installed {missing} but still missing: {still}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float, what: str, log: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s\n{log()}")


def _run(cmd: list[str], timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]


def _mounted_under(root: Path) -> list[str]:
    points = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = line.split()[4].replace("\\040", " ")
            if point == str(root) or point.startswith(str(root) + "/"):
                points.append(point)
    return points


def _pids_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as status:
                for line in status:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry))
                        break
        except OSError:
            continue
    return pids


def _is_meditrack(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return b"meditrack" in cmdline.read()
    except OSError:  # it ended meanwhile
        return False


@dataclass
class SshSite:
    root: Path
    account: str
    files_login: str
    data_dir: Path
    port: int = 0
    key: Path = Path()
    known_hosts: Path = Path()
    sshd_log: Path = Path()
    tmux_sock: Path = Path()
    timings: dict[str, float] = field(default_factory=dict)

    def ssh_opts(self) -> list[str]:
        return ["-F", "/dev/null", "-i", str(self.key), "-o", "BatchMode=yes",
                "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "ConnectTimeout=10"]

    def log(self) -> str:
        try:
            return "sshd log:\n" + self.sshd_log.read_text()[-4000:]
        except OSError:
            return "(no sshd log)"


@pytest.fixture
def ssh_site() -> Iterator[SshSite]:
    """A throwaway SSH deployment made by ``meditrack deploy ssh --write``'s scripts and
    a running sshd; everything undone in the finalizer (in reverse order of making)."""
    started = time.monotonic()
    _ensure_tools()
    timings = {"install": time.monotonic() - started}
    undo: list[tuple[str, Callable[[], object]]] = []
    errors: list[str] = []

    def later(what: str, fn: Callable[[], object]) -> None:
        undo.append((what, fn))

    try:
        t0 = time.monotonic()
        parent = "/srv" if os.path.isdir("/srv") else "/var/lib"
        root = Path(tempfile.mkdtemp(prefix="meditrack-ssh-test-", dir=parent))
        later("remove the test folder", lambda: _remove_root(root))
        os.chmod(root, 0o755)  # the chroot's parents must be root's and not group-writable
        account = "mt" + secrets.token_hex(3)
        site = SshSite(root, account, f"{account}-demo.doctor", root / "svc" / "data",
                       timings=timings)

        # The service account must be able to run this meditrack: grant o+x on the folders
        # above the virtual environment, its interpreter (e.g. a pyenv build under /root)
        # and the source tree (an editable install) where missing; undone afterwards.
        # A clinic installs into /opt/meditrack instead (deploy's README says so).
        interpreter = Path(os.path.realpath(sys.executable)).parent
        for base in (Path(sys.prefix), interpreter, Path(sys.base_prefix), REPO):
            for folder in [base, *base.parents]:
                mode = folder.stat().st_mode
                if not mode & stat.S_IXOTH:
                    os.chmod(folder, mode | stat.S_IXOTH)
                    later(f"chmod back {folder}",
                          lambda f=folder, m=mode: os.chmod(f, stat.S_IMODE(m)))

        deploy_dir = root / "deploy"
        done = _run([sys.executable, "-m", "meditrack_tui.cli", "deploy", "ssh",
                     "--account", account, "--data-dir", str(site.data_dir),
                     "--files-root", str(root / "files"), "--keys-dir", str(root / "keys"),
                     "--write", str(deploy_dir)], env=dict(os.environ, PYTHONPATH=str(REPO)))
        assert done.returncode == 0, done.stderr

        def kill_sessions() -> None:
            for pid in _pids_of_uid(uid):  # sessions left behind (the app under sshd)
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)

        def drop_accounts() -> None:
            kill_sessions()
            for name in (site.files_login, account):
                _run(["userdel", "-f", name])
            _run(["groupdel", f"{account}-files"])
            _run(["groupdel", account])

        setup = _run(["sh", str(deploy_dir / "setup.sh")])
        uid = int(_run(["id", "-u", account]).stdout.strip() or -1)
        if uid >= 0:
            later("remove the accounts", drop_accounts)
        assert setup.returncode == 0, setup.stdout + setup.stderr

        fstab = root / "fstab"
        for box in ("outbox", "inbox"):
            point = root / "files" / site.files_login / box
            later(f"unmount {point}", lambda p=point: _run(["umount", str(p)])
                  if _run(["mountpoint", "-q", str(p)]).returncode == 0 else None)
        if uid >= 0:
            later("end the account's sessions", kill_sessions)
        add = _run(["sh", str(deploy_dir / "add-files-user.sh"), "demo.doctor"],
                   env=dict(os.environ, FSTAB=str(fstab)))
        assert add.returncode == 0, add.stdout + add.stderr
        assert len(fstab.read_text().splitlines()) == 2  # the bind mounts, for a reboot

        seed = _run(["runuser", "-u", account, "--", sys.prefix + "/bin/meditrack",
                     "--data-dir", str(site.data_dir), "seed", "--demo"], timeout=120)
        assert seed.returncode == 0, seed.stdout + seed.stderr
        timings["accounts+seed"] = time.monotonic() - t0

        # keys: the client's, and the server's host key the client checks strictly
        t0 = time.monotonic()
        (root / "client").mkdir(mode=0o700)
        (root / "sshd").mkdir(mode=0o700)
        site.key = root / "client" / "id_ed25519"
        host_key = root / "sshd" / "host_ed25519"
        for path in (site.key, host_key):
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "meditrack-test",
                  "-f", str(path)]).check_returncode()
        public = site.key.with_suffix(".pub").read_text()
        for login in (account, site.files_login):
            (root / "keys" / "authorized_keys" / login).write_text(public)
        site.port = _free_port()
        site.known_hosts = root / "client" / "known_hosts"
        site.known_hosts.write_text(
            f"[127.0.0.1]:{site.port} {host_key.with_suffix('.pub').read_text()}")

        # sshd: Debian's layout (the generated file included at the top), loopback only,
        # only the test's two logins
        config = root / "sshd" / "sshd_config"
        config.write_text(f"""\
Include {deploy_dir / 'meditrack.conf'}
Port {site.port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {root / 'sshd' / 'sshd.pid'}
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile none
AllowUsers {account} {site.files_login}
Subsystem sftp internal-sftp
LogLevel VERBOSE
""")
        if not os.path.isdir("/run/sshd"):  # sshd's privilege separation folder
            os.makedirs("/run/sshd", mode=0o755)
            later("remove /run/sshd", lambda: os.rmdir("/run/sshd"))
        check = _run([SSHD, "-t", "-f", str(config)])
        assert check.returncode == 0, f"sshd -t refused the config:\n{check.stderr}"
        site.sshd_log = root / "sshd" / "log"
        log = open(site.sshd_log, "w")
        sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        later("stop sshd", lambda: _stop(sshd))
        later("close the sshd log", log.close)
        _wait_port(site.port, 10, "sshd", site.log)
        site.tmux_sock = root / "client" / "tmux.sock"
        later("stop tmux", lambda: _run(["tmux", "-S", str(site.tmux_sock), "kill-server"])
              if site.tmux_sock.exists() else None)
        timings["keys+sshd"] = time.monotonic() - t0
        yield site
    finally:
        for what, fn in reversed(undo):
            try:
                fn()
            except Exception as exc:  # keep undoing the rest; report at the end
                errors.append(f"{what}: {exc}")
        print("ssh test timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    if errors:
        pytest.fail("cleanup failed: " + "; ".join(errors))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _remove_root(root: Path) -> None:
    still = _mounted_under(root)
    if still:  # never delete through a bind mount into the data directory
        raise RuntimeError(f"still mounted, not removed: {still}")
    shutil.rmtree(root)


class Tmux:
    """A terminal (its own tmux server on a private socket) the test types into."""

    def __init__(self, sock: Path, command: list[str]) -> None:
        self.sock = str(sock)
        self.target = "mt:0.0"
        self.tmux("new-session", "-d", "-s", "mt", "-x", "100", "-y", "30",
                  "env", "TERM=xterm-256color", *command)
        self.tmux("set-option", "-t", "mt", "remain-on-exit", "on")

    def tmux(self, *args: str) -> str:
        done = _run(["tmux", "-S", self.sock, *args], timeout=10)
        assert done.returncode == 0, f"tmux {args[0]}: {done.stderr}"
        return done.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.target)

    def wait(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if text in shown:
                return shown
            if time.monotonic() > deadline:
                pytest.fail(f"{text!r} did not appear within {timeout} s; the screen:\n{shown}")
            time.sleep(0.1)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.target, "-l", text)

    def keys(self, *names: str) -> None:
        self.tmux("send-keys", "-t", self.target, *names)


@pytest.mark.ssh
def test_meditrack_over_ssh_the_vista_way(ssh_site: SshSite) -> None:
    site = ssh_site
    host = "127.0.0.1"
    port = ["-p", str(site.port)]
    t0 = time.monotonic()

    # 1. a file reaches demo.doctor's inbox over SFTP, and nothing but the folders is seen
    upload = site.root / "client" / "home_bp_over_ssh.csv"
    upload.write_text("date,systolic,diastolic\n2026-03-01,128,82\n2026-03-02,131,84\n")
    batch = site.root / "client" / "batch"
    batch.write_text(f"put {upload}\nls -1 /\n")
    sftp = _run(["sftp", "-b", str(batch), "-P", str(site.port), *site.ssh_opts(),
                 f"{site.files_login}@{host}"])
    assert sftp.returncode == 0, sftp.stdout + sftp.stderr + site.log()
    listed = [line.strip().strip("/") for line in sftp.stdout.splitlines()
              if not line.startswith("sftp>")]
    assert sorted(x for x in listed if x) == ["inbox", "outbox"], sftp.stdout
    landed = site.data_dir / "inbox" / "demo.doctor" / upload.name
    info = landed.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600  # internal-sftp -u 077
    assert info.st_uid == int(_run(["id", "-u", site.account]).stdout)
    site.timings["sftp"] = time.monotonic() - t0

    # 2. no terminal (ssh -T, no command): a sentence and a non-zero exit at once, and no
    # MediTrack left running (it would draw nowhere until the client leaves)
    t0 = time.monotonic()
    try:
        no_tty = _run(["ssh", "-T", *port, *site.ssh_opts(), f"{site.account}@{host}"],
                      timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("ssh -T started MediTrack without a terminal: no answer within 20 s")
    took = time.monotonic() - t0
    assert no_tty.returncode != 0, no_tty
    assert "MediTrack needs a terminal: connect with 'ssh -t" in no_tty.stderr, no_tty
    assert took < 10, f"ssh -T took {took:.1f} s to be refused"
    uid = int(_run(["id", "-u", site.account]).stdout)
    deadline = time.monotonic() + 5
    while left := [pid for pid in _pids_of_uid(uid) if _is_meditrack(pid)]:
        assert time.monotonic() < deadline, f"MediTrack still running after ssh -T: {left}"
        time.sleep(0.1)
    site.timings["ssh -T refused"] = took

    # 3. MediTrack over ssh -tt in a terminal: log in, a patient's BP chart, the upload form
    t0 = time.monotonic()
    term = Tmux(site.tmux_sock, ["ssh", "-tt", *port, *site.ssh_opts(),
                                 f"{site.account}@{host}"])
    term.wait("Username", 30)
    time.sleep(0.5)
    term.type("demo.doctor")
    term.keys("Enter")
    time.sleep(0.3)
    term.type("meditrack-demo")
    term.keys("Enter")
    term.wait("Welcome")
    term.keys("F3")
    term.wait("Page 1 of")
    time.sleep(0.5)
    term.type("reyes")
    time.sleep(0.8)
    term.keys("Enter")
    term.wait("Dr. Maya Hartwell")
    time.sleep(0.5)
    term.keys("v")
    shown = term.wait("ACC/AHA")
    assert "Blood pressure" in shown
    site.timings["ssh login to BP chart"] = time.monotonic() - t0
    t0 = time.monotonic()
    term.keys("4")
    term.wait("Upload")
    time.sleep(0.5)
    term.keys("C-n")
    term.wait("Upload a report")
    term.wait(upload.name)
    term.keys("Escape")
    site.timings["upload form"] = time.monotonic() - t0

    # 4. no shell, no commands, no file transfer as the app account, no forwarding
    t0 = time.monotonic()
    for login, command in ((site.account, ["/bin/sh", "-c", "id"]),
                           (site.files_login, ["/bin/sh", "-c", "id"])):
        done = _run(["ssh", "-T", *port, *site.ssh_opts(), f"{login}@{host}", *command],
                    timeout=30)
        assert "uid=" not in done.stdout + done.stderr, done
        assert done.returncode != 0 or not done.stdout.strip(), done
        if login == site.account:
            assert "runs MediTrack only" in done.stderr, done
    app_sftp = _run(["sftp", "-b", str(batch), "-P", str(site.port), *site.ssh_opts(),
                     f"{site.account}@{host}"], timeout=30)
    assert app_sftp.returncode != 0, app_sftp.stdout
    assert not (site.data_dir / upload.name).exists()

    listen = _free_port()
    forward = subprocess.Popen(
        ["ssh", "-N", *port, *site.ssh_opts(), "-o", "ExitOnForwardFailure=yes",
         "-L", f"127.0.0.1:{listen}:127.0.0.1:{site.port}", f"{site.account}@{host}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_port(listen, 10, "ssh -L (the client side)", site.log)
        with socket.create_connection(("127.0.0.1", listen), timeout=5) as conn:
            conn.settimeout(5)
            try:
                got = conn.recv(64)
            except (TimeoutError, ConnectionResetError):
                got = b""
        assert not got.startswith(b"SSH-"), "a TCP forwarding reached sshd through the tunnel"
    finally:
        _stop(forward)  # type: ignore[arg-type]
    assert b"prohibited" in forward.stderr.read()  # type: ignore[union-attr]
    remote = _run(["ssh", "-N", *port, *site.ssh_opts(), "-o", "ExitOnForwardFailure=yes",
                   "-R", f"127.0.0.1:{_free_port()}:127.0.0.1:{site.port}",
                   f"{site.account}@{host}"], timeout=30)
    assert remote.returncode != 0 and "forwarding failed" in remote.stderr, remote
    site.timings["refusals"] = time.monotonic() - t0

    # the session is still the app: F10 logs out back to the login screen
    term.keys("F10")
    term.wait("Username")
