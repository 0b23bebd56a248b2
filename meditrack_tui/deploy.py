"""``meditrack deploy ssh``: what an administrator needs to run MediTrack over SSH.

The VistA way: one service account owns the data directory and everyone reaches the app
as that account over SSH; ``ForceCommand`` starts MediTrack (no shell, no forwarding) and
people log in inside the app. Files travel by SFTP through a second, per-person login
that shares the service account's uid (so what is uploaded belongs to the account that
reads it) and is chrooted by sshd to a root-owned folder holding bind mounts of just
that person's ``inbox/<username>`` and ``outbox/<username>``: the store, the secret and
other people's folders are not inside the chroot at all.

OpenSSH's rules this follows: ``ChrootDirectory`` and every folder above it must belong
to root and be writable by nobody else, so the chroot cannot be the data directory (it
belongs to the service account, mode 0700); ``ForceCommand`` runs through the account's
login shell, so the service account has ``/bin/sh`` (never reachable: every session runs
the forced command); ``internal-sftp`` runs inside sshd, so the file logins have no shell.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .refusals import DEFAULT_ACCOUNT

DEFAULT_DATA_DIR = "/var/lib/meditrack/data"
DEFAULT_FILES_ROOT = "/srv/meditrack-files"
DEFAULT_KEYS_DIR = "/etc/meditrack/ssh"
CLINIC_INSTALL = "/opt/meditrack"
SAFE_PATH_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+")
SAFE_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-")

#: what every MediTrack SSH login is refused (sshd_config(5) keywords allowed in Match)
NO_FORWARDING = (
    "DisableForwarding yes",
    "AllowTcpForwarding no",
    "AllowStreamLocalForwarding no",
    "AllowAgentForwarding no",
    "X11Forwarding no",
    "PermitTunnel no",
    "PermitListen none",
    "PermitOpen none",
    "GatewayPorts no",
    "PermitUserRC no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
)


def installed_meditrack() -> Path:
    """The absolute path of the ``meditrack`` command this code was installed with."""
    candidate = Path(sys.prefix) / "bin" / "meditrack"
    if candidate.is_file():
        return candidate
    found = shutil.which("meditrack")
    if found:
        return Path(found).absolute()
    raise ValueError("cannot find the installed 'meditrack' command; install MediTrack "
                     f"(e.g. python3 -m venv {CLINIC_INSTALL} && "
                     f"{CLINIC_INSTALL}/bin/pip install meditrack-tui) and run "
                     f"{CLINIC_INSTALL}/bin/meditrack deploy ssh")


@dataclass(frozen=True)
class SshPlan:
    """The names and paths of one SSH deployment."""

    account: str
    data_dir: Path
    files_root: Path
    keys_dir: Path
    meditrack: Path

    @property
    def home(self) -> Path:
        return self.data_dir.parent

    @property
    def files_group(self) -> str:
        return f"{self.account}-files"

    def check(self) -> None:
        if (not self.account or self.account[0] not in "abcdefghijklmnopqrstuvwxyz_"
                or not set(self.account) <= SAFE_NAME_CHARS or len(self.account) > 20):
            raise ValueError("--account must be a lower-case account name (letters, digits, "
                             "'-' or '_', at most 20 characters, starting with a letter)")
        for what, path in (("--data-dir", self.data_dir), ("--files-root", self.files_root),
                           ("--keys-dir", self.keys_dir), ("the meditrack command",
                                                           self.meditrack)):
            text = str(path)
            if not path.is_absolute() or not set(text) <= SAFE_PATH_CHARS:
                raise ValueError(f"{what} must be an absolute path of letters, digits and "
                                 f"'/._-+' only (sshd_config has no quoting for it): {text}")
        if self.data_dir.parent == self.data_dir:
            raise ValueError("--data-dir cannot be the root folder")
        if self.files_root == self.data_dir or self.data_dir in self.files_root.parents \
                or self.files_root in self.data_dir.parents:
            raise ValueError("--files-root must be outside the data directory and not above "
                             "it (the SFTP chroot must not contain the store)")

    # --- the generated files ---

    def sshd_conf(self) -> str:
        keys = self.keys_dir / "authorized_keys" / "%u"
        force = f"{shlex.quote(str(self.meditrack))} --data-dir {shlex.quote(str(self.data_dir))}"
        rules = "".join(f"    {line}\n" for line in NO_FORWARDING)
        return f"""\
# MediTrack over SSH, written by `meditrack deploy ssh`.
# Install as /etc/ssh/sshd_config.d/meditrack.conf (Debian's sshd_config includes that
# folder at its top). The main sshd_config must keep a "Subsystem sftp ..." line (Debian's
# has one); the file logins below are forced into internal-sftp whatever it names.
# Check with: sshd -t   then: systemctl reload ssh

# The app: ssh -t {self.account}@<server>, then log in inside MediTrack. No shell, no
# commands (a command or a file transfer asked for is refused with a sentence), no forwarding.
Match User {self.account}
    AuthorizedKeysFile {keys}
    ForceCommand {force}
    PermitTTY yes
{rules}
# Files: sftp {self.account}-<username>@<server> reaches only <username>'s inbox and outbox
# (bind mounts inside a root-owned chroot; the store is not in it).
Match Group {self.files_group}
    AuthorizedKeysFile {keys}
    ChrootDirectory {self.files_root}/%u
    ForceCommand internal-sftp -d /inbox -u 077
    PermitTTY no
{rules}"""

    def _vars(self) -> str:
        return (f"ACCOUNT={shlex.quote(self.account)}\n"
                f"HOME_DIR={shlex.quote(str(self.home))}\n"
                f"DATA_DIR={shlex.quote(str(self.data_dir))}\n"
                f"FILES_ROOT={shlex.quote(str(self.files_root))}\n"
                f"KEYS_DIR={shlex.quote(str(self.keys_dir))}\n"
                f"MEDITRACK={shlex.quote(str(self.meditrack))}\n")

    def setup_sh(self) -> str:
        return f"""\
#!/bin/sh
# MediTrack over SSH: the service account, its data directory, the file logins' group and
# the folders sshd needs. Run once as root (written by `meditrack deploy ssh`).
set -eu
{self._vars()}
# The service account owns the data directory. Its shell is /bin/sh only because sshd runs
# ForceCommand through the login shell; every SSH session runs MediTrack. The password
# field is '*' (no password login; not '!', which sshd without PAM reads as locked).
getent passwd "$ACCOUNT" >/dev/null || useradd --system --user-group \\
    --home-dir "$HOME_DIR" --create-home --shell /bin/sh --password '*' "$ACCOUNT"
getent group "$ACCOUNT-files" >/dev/null || groupadd --system "$ACCOUNT-files"
install -d -o "$ACCOUNT" -g "$ACCOUNT" -m 700 "$HOME_DIR" "$DATA_DIR" \\
    "$DATA_DIR/inbox" "$DATA_DIR/outbox"

# sshd's ChrootDirectory: the folder and every folder above it must belong to root and be
# writable by nobody else.
install -d -o root -g root -m 755 "$FILES_ROOT"
dir=$FILES_ROOT
while [ "$dir" != / ]; do
    if [ "$(stat -c %u "$dir")" != 0 ] || [ -n "$(find "$dir" -maxdepth 0 -perm /022)" ]; then
        echo "setup: $dir must belong to root and be writable by root only, or sshd" \\
             "refuses the SFTP chroot below it (chown root: and chmod go-w it)." >&2
        exit 1
    fi
    dir=$(dirname "$dir")
done

# SSH keys: root-owned files (MediTrack's account cannot add keys), one per login.
install -d -o root -g root -m 755 "$KEYS_DIR" "$KEYS_DIR/authorized_keys"
[ -e "$KEYS_DIR/authorized_keys/$ACCOUNT" ] || \\
    install -o root -g root -m 644 /dev/null "$KEYS_DIR/authorized_keys/$ACCOUNT"

# The account must be able to run the installed MediTrack (a clinic installs it where
# every account can read it: python3 -m venv {CLINIC_INSTALL} &&
# {CLINIC_INSTALL}/bin/pip install meditrack-tui).
if ! why=$(runuser -u "$ACCOUNT" -- "$MEDITRACK" --version 2>&1); then
    echo "$why" >&2
    echo "setup: the account $ACCOUNT cannot run $MEDITRACK. Install MediTrack where" \\
         "every account can read it ({CLINIC_INSTALL}) and run 'deploy ssh' from there." >&2
    exit 1
fi
echo "Service account $ACCOUNT ready; data directory $DATA_DIR."
echo "Add each person's SSH public key to $KEYS_DIR/authorized_keys/$ACCOUNT,"
echo "install meditrack.conf as /etc/ssh/sshd_config.d/meditrack.conf, run sshd -t, reload."
"""

    def add_files_user_sh(self) -> str:
        return f"""\
#!/bin/sh
# Give one MediTrack user SFTP access to their own inbox and outbox and nothing else:
#   add-files-user.sh USERNAME   (run as root; written by `meditrack deploy ssh`)
# Makes the login $ACCOUNT-USERNAME (same uid as $ACCOUNT, so uploads belong to the account
# that reads them; no shell; sshd forces internal-sftp chrooted to $FILES_ROOT/<login>),
# and bind-mounts the user's folders there, recording the mounts in $FSTAB for reboots.
set -eu
{self._vars()}FSTAB=${{FSTAB:-/etc/fstab}}
app_user=${{1:?usage: add-files-user.sh MEDITRACK_USERNAME}}
case "$app_user" in
    *[!a-z0-9._-]*|.*|-*)
        echo "add-files-user: '$app_user' is not a MediTrack username this script" \\
             "can map to a login (lower-case letters, digits, '.', '_', '-')." >&2
        exit 2 ;;
esac
login="$ACCOUNT-$app_user"
if [ ${{#login}} -gt 32 ]; then
    echo "add-files-user: the login $login would be longer than 32 characters." >&2
    exit 2
fi
uid=$(id -u "$ACCOUNT")
gid=$(id -g "$ACCOUNT")
install -d -o "$ACCOUNT" -g "$ACCOUNT" -m 700 "$DATA_DIR/inbox/$app_user" \\
    "$DATA_DIR/outbox/$app_user"
install -d -o root -g root -m 755 "$FILES_ROOT/$login"
getent passwd "$login" >/dev/null || useradd --non-unique --uid "$uid" --gid "$gid" \\
    --groups "$ACCOUNT-files" --no-create-home --home-dir / --shell /usr/sbin/nologin \\
    --password '*' "$login"
for box in inbox outbox; do
    target="$FILES_ROOT/$login/$box"
    if ! mountpoint -q "$target"; then
        install -d -o root -g root -m 755 "$target"
        mount --bind "$DATA_DIR/$box/$app_user" "$target"
    fi
    line="$DATA_DIR/$box/$app_user $target none bind 0 0"
    grep -qxF "$line" "$FSTAB" 2>/dev/null || echo "$line" >> "$FSTAB"
done
[ -e "$KEYS_DIR/authorized_keys/$login" ] || \\
    install -o root -g root -m 644 /dev/null "$KEYS_DIR/authorized_keys/$login"
echo "$app_user: sftp $login@<server> (put the person's public key in" \\
     "$KEYS_DIR/authorized_keys/$login); it starts in /inbox, copies are in /outbox."
"""

    def readme(self) -> str:
        return f"""\
MediTrack over SSH: one service account, the VistA way
=======================================================

Layout
  {self.meditrack}
      MediTrack, installed where every account can read it (a clinic:
      python3 -m venv {CLINIC_INSTALL} && {CLINIC_INSTALL}/bin/pip install meditrack-tui)
  {self.account}                       the service account: owns the data directory, shell
                                  /bin/sh, but sshd forces every session into MediTrack
  {self.data_dir}  (0700, {self.account})
      the store, secret.key, inbox/<username>/ and outbox/<username>/
  {self.files_root}/{self.account}-<username>/  (root, 0755: the SFTP chroot)
      inbox  -> bind mount of {self.data_dir}/inbox/<username>
      outbox -> bind mount of {self.data_dir}/outbox/<username>
  {self.account}-<username>             one file login per person: same uid as
                                  {self.account}, group {self.files_group}, no shell,
                                  internal-sftp only
  {self.keys_dir}/authorized_keys/<login>  (root, 0644) SSH public keys per login

Steps (as root)
  1. sh setup.sh                      the account, folders and key files
  2. {self.meditrack} --data-dir {self.data_dir} create-admin
     run as the account: runuser -u {self.account} -- <that command>
  3. cp meditrack.conf /etc/ssh/sshd_config.d/meditrack.conf && sshd -t && systemctl reload ssh
  4. add public keys: {self.keys_dir}/authorized_keys/{self.account} (everyone who uses the app)
  5. per person who sends or fetches files: sh add-files-user.sh <their MediTrack username>
     and their key in {self.keys_dir}/authorized_keys/{self.account}-<username>

People then connect with
  ssh -t {self.account}@<server>                 MediTrack's login screen
  sftp {self.account}-<username>@<server>        their inbox (put) and outbox (get)
Asking the app account for a command (ssh {self.account}@<server> id), a file transfer or
any forwarding is refused; the file logins get SFTP inside their chroot and nothing else.
"""


def plan_from_args(args: argparse.Namespace) -> SshPlan:
    plan = SshPlan(
        account=args.account,
        data_dir=Path(os.path.abspath(getattr(args, "data_dir", None) or DEFAULT_DATA_DIR)),
        files_root=Path(os.path.abspath(args.files_root)),
        keys_dir=Path(os.path.abspath(args.keys_dir)),
        meditrack=installed_meditrack(),
    )
    plan.check()
    return plan


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``deploy ssh`` on the command line's subcommands."""
    deploy = sub.add_parser("deploy", help="print or write what an administrator needs to "
                                           "run MediTrack for others (ssh)")
    deploy_sub = deploy.add_subparsers(dest="deploy_target", metavar="TARGET", required=True)
    ssh = deploy_sub.add_parser(
        "ssh", help="one service account reached over SSH: the account, an sshd_config "
                    "Match block with ForceCommand, SFTP-only file logins chrooted to each "
                    "person's inbox and outbox")
    ssh.add_argument("--account", default=DEFAULT_ACCOUNT,
                     help=f"the service account (default {DEFAULT_ACCOUNT})")
    ssh.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS,
                     help=f"the data directory it owns (default {DEFAULT_DATA_DIR})")
    ssh.add_argument("--files-root", metavar="DIR", default=DEFAULT_FILES_ROOT,
                     help=f"root-owned folder of the SFTP chroots (default {DEFAULT_FILES_ROOT})")
    ssh.add_argument("--keys-dir", metavar="DIR", default=DEFAULT_KEYS_DIR,
                     help=f"root-owned folder of the logins' SSH keys (default {DEFAULT_KEYS_DIR})")
    ssh.add_argument("--write", metavar="DIR",
                     help="write meditrack.conf, setup.sh, add-files-user.sh and README.txt "
                          "into DIR instead of printing them")


def cmd_deploy(args: argparse.Namespace) -> int:
    plan = plan_from_args(args)
    files = {"README.txt": plan.readme(), "meditrack.conf": plan.sshd_conf(),
             "setup.sh": plan.setup_sh(), "add-files-user.sh": plan.add_files_user_sh()}
    if not args.write:
        for name, text in files.items():
            print(f"===== {name} =====")
            print(text)
        return 0
    target = Path(args.write)
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = target / name
        # readable by the administrator's tools (sshd reads the .conf as root); no secrets
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o755 if name.endswith(".sh") else 0o644)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(path, 0o755 if name.endswith(".sh") else 0o644)
        print(f"Wrote {path}")
    print(f"Next: read {target / 'README.txt'}, then run sh {target / 'setup.sh'} as root.")
    return 0
