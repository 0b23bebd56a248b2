"""The administrator's commands on the server: ``audit verify``, ``backup`` (and
``--verify``), ``restore`` and ``doctor`` (the ``meditrack`` command dispatches here)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .config import ENV_SECRET, Config
from .errors import MediTrackError


def run(args: argparse.Namespace, config: Config) -> int:
    """Run the server command ``args.command`` names; its exit status."""
    commands = {"audit": cmd_audit_verify, "backup": cmd_backup, "restore": cmd_restore,
                "doctor": cmd_doctor}
    return commands[args.command](args, config)


def cmd_audit_verify(args: argparse.Namespace, config: Config) -> int:
    """``meditrack audit verify``: 0 intact, 1 not intact (each problem listed), 2 when the
    trail could not be checked (no key, no store)."""
    from .runtime import Backend

    secret_file = Path(config.data_dir) / "secret.key"  # Config.signing_secret()'s file
    if not config.secret and not secret_file.is_file():
        print(f"meditrack: cannot check the audit trail: the signing secret it is sealed "
              f"with was not found ({ENV_SECRET} is not set and there is no "
              f"{secret_file}). Run this as the account that runs "
              "MediTrack, with the same settings.", file=sys.stderr)
        return 2
    from .audit_chain import parse_checkpoint

    since = parse_checkpoint(args.since) if getattr(args, "since", None) else None
    backend = Backend(config)
    try:
        backend.open()
        report = backend.call(lambda s: s.audit.verify_chain(since=since))
    except MediTrackError as exc:
        print(f"meditrack: cannot check the audit trail: {exc.message}", file=sys.stderr)
        return 2
    finally:
        backend.close()
    for line in report.lines():
        print(line)
    return 0 if report.intact else 1


def _existing_secret(config: Config) -> str | None:
    """The signing secret if there is one (never created: a new one could not check a
    trail sealed with the old)."""
    if config.secret:
        return config.secret
    try:
        text = (Path(config.data_dir) / "secret.key").read_text().strip()
    except OSError:
        return None
    return text or None


def _no_secret_note(config: Config) -> str:
    return (f"The audit seals were not checked: no signing secret here ({ENV_SECRET} is not "
            f"set and there is no {Path(config.data_dir) / 'secret.key'}). Backups do not "
            "carry the secret: copy secret.key from the clinic's data directory (chmod 600) "
            "before starting MediTrack, then run 'meditrack audit verify'.")


def _open_store(config: Config) -> Any:
    from .files import check_private, ensure_private_dir
    from .store import connect

    ensure_private_dir(config.data_dir)
    check_private(config.data_dir)
    return connect(config)


def cmd_backup(args: argparse.Namespace, config: Config) -> int:
    """``meditrack backup FILE`` (0 written, 1 failed) or ``--verify FILE`` (0 intact, 1
    damaged, 2 could not check)."""
    from .audit_chain import key_for
    from .backup import (
        BackupDamaged,
        BackupError,
        record_last_backup,
        verify_backup,
        write_backup,
    )

    path = Path(args.file)
    if args.verify:
        secret = _existing_secret(config)
        try:
            check = verify_backup(path, key_for(secret) if secret else None,
                                  no_key_note=_no_secret_note(config))
        except BackupError as exc:
            print(f"meditrack: {exc.message}", file=sys.stderr)
            return 1 if isinstance(exc, BackupDamaged) else 2
        for line in check.lines():
            print(line)
        return 0 if check.intact else 1
    store = _open_store(config)
    try:
        summary = write_backup(store, path)
    finally:
        store.close()
    record_last_backup(config.data_dir, summary)
    for line in summary.lines():
        print(line)
    return 0


def cmd_restore(args: argparse.Namespace, config: Config) -> int:
    """``meditrack restore FILE``: 0 restored and intact, 1 damaged or not intact, 2 not
    restored (a non-empty store, no such file) or the audit seals not checked."""
    from .audit_chain import key_for
    from .backup import BackupDamaged, BackupError, open_backup, restore_backup

    path = Path(args.file)
    try:
        archive, _ = open_backup(path)
        archive.close()
    except BackupError as exc:
        print(f"meditrack: {exc.message}", file=sys.stderr)
        return 1 if isinstance(exc, BackupDamaged) else 2
    secret = _existing_secret(config)
    store = _open_store(config)
    try:
        result = restore_backup(path, store, key_for(secret) if secret else None,
                                no_key_note=_no_secret_note(config), progress=print)
    except BackupError as exc:
        print(f"meditrack: {exc.message}", file=sys.stderr)
        return 1 if isinstance(exc, BackupDamaged) else 2
    finally:
        store.close()
    from .cli import store_location

    print(f"Restored into {store_location(config)}.")
    for line in result.lines():
        print(line)
    if result.problems or (result.chain is not None and not result.chain.intact):
        return 1
    return 0 if result.chain is not None else 2


def cmd_doctor(args: argparse.Namespace, config: Config) -> int:
    from .doctor import exit_code, run_checks

    lines = run_checks(config)
    for line in lines:
        print(line)
    code = exit_code(lines)
    print("Everything checked is ready." if code == 0 else
          "Fix what says FAIL above, then run 'meditrack doctor' again.")
    return code
