"""``meditrack doctor``: what an admin checks before going live, one line each.

Each check says OK, INFO or FAIL with a sentence; any FAIL makes the command exit 1.
Nothing is created or changed: a missing database or secret is reported, not made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .config import ENV_SECRET, Config
from .errors import MediTrackError

OK, INFO, FAIL = "OK", "INFO", "FAIL"
MIN_FREE_BYTES = 1024 ** 3          # 1 GB free on the data directory's disk
MAX_BACKUP_AGE = timedelta(days=1)  # a backup at least daily


@dataclass(frozen=True)
class Line:
    status: str
    what: str
    text: str

    def __str__(self) -> str:
        return f"{self.status:<4}  {self.what}: {self.text}"


def _secret(config: Config) -> str | None:
    """The signing secret if one exists (never created here)."""
    if config.secret:
        return config.secret
    try:
        text = (Path(config.data_dir) / "secret.key").read_text().strip()
    except OSError:
        return None
    return text or None


def run_checks(config: Config, *, min_free: int = MIN_FREE_BYTES,
               max_backup_age: timedelta = MAX_BACKUP_AGE,
               now: Callable[[], datetime] = datetime.now) -> list[Line]:
    from .backup import last_backup
    from .files import check_private
    from .store.base import SCHEMA_VERSION
    from .store.sqlite.engine import DB_NAME, free_space, human_size

    lines: list[Line] = []
    data_dir = Path(config.data_dir)

    # data directory and its permissions
    if not data_dir.is_dir():
        lines.append(Line(FAIL, "data directory", f"{data_dir} does not exist. Start "
                          "MediTrack once (or restore a backup) to create it."))
    else:
        try:
            check_private(data_dir)
            lines.append(Line(OK, "data directory", f"{data_dir} is private to this account"))
        except MediTrackError as exc:
            lines.append(Line(FAIL, "data directory", exc.message))

    # the signing secret
    secret = _secret(config)
    if secret:
        where = ENV_SECRET if config.secret else str(data_dir / "secret.key")
        lines.append(Line(OK, "secret", f"present ({where})"))
    else:
        lines.append(Line(FAIL, "secret", f"no signing secret ({ENV_SECRET} is not set and "
                          f"{data_dir / 'secret.key'} is missing): the audit trail cannot "
                          "be checked. After a restore, copy secret.key from the old server."))

    # the store
    store: Any = None
    if not config.uses_mongodb and not (data_dir / DB_NAME).is_file():
        lines.append(Line(FAIL, "store", f"no database in {data_dir} (nothing to check)."))
    else:
        try:
            from .store import connect

            store = connect(config)
        except MediTrackError as exc:
            lines.append(Line(FAIL, "store", exc.message))
    if store is not None:
        try:
            lines += _store_lines(store, secret)
        finally:
            store.close()
        version = getattr(store, "schema_version", None)
        lines.append(Line(
            OK if version == SCHEMA_VERSION else FAIL, "schema",
            f"version {version}" + ("" if version == SCHEMA_VERSION else
                                    f" (this MediTrack expects {SCHEMA_VERSION})")))

    # disk space
    free = free_space(data_dir)
    if free is None:
        lines.append(Line(FAIL, "disk space", f"cannot tell how much space is left for {data_dir}"))
    elif free < min_free:
        lines.append(Line(FAIL, "disk space", f"only {human_size(free)} free for {data_dir} "
                          f"(at least {human_size(min_free)} wanted): free space or move it"))
    else:
        lines.append(Line(OK, "disk space", f"{human_size(free)} free"))

    # the last backup
    when = last_backup(data_dir)
    if when is None:
        lines.append(Line(FAIL, "last backup", "none recorded on this machine: run "
                          "'meditrack backup FILE' (daily, by cron or a systemd timer)"))
    else:
        age = now() - when
        hours = age.total_seconds() / 3600
        text = f"{when.isoformat(sep=' ', timespec='minutes')} ({hours:.0f} hours ago)"
        lines.append(Line(OK if age <= max_backup_age else FAIL, "last backup",
                          text if age <= max_backup_age else text + ": too old, back up now"))
    return lines


def _store_lines(store: Any, secret: str | None) -> list[Line]:
    from .audit_chain import key_for, verify

    info = store.info
    kind = "embedded (SQLite)" if info.kind == "embedded" else "MongoDB"
    lines = [Line(OK, "store", f"{kind} at {info.location} is reachable")]
    if info.kind == "embedded":
        lines.append(Line(INFO, "live updates", "by the change log (one server)"))
    elif info.supports_change_streams:
        lines.append(Line(OK, "live updates", "replica set: change streams and transactions"))
    else:
        lines.append(Line(INFO, "live updates", "standalone server: by the change log, no "
                          "transactions (a replica set is recommended)"))
    if secret is None:
        lines.append(Line(FAIL, "audit chain", "not checked: no secret"))
        return lines
    try:
        report = verify(store.audit, key_for(secret))
    except MediTrackError as exc:
        lines.append(Line(FAIL, "audit chain", f"could not be read: {exc.message}"))
        return lines
    lines.append(Line(OK if report.intact else FAIL, "audit chain", report.summary()))
    return lines


def exit_code(lines: list[Line]) -> int:
    return 1 if any(line.status == FAIL for line in lines) else 0


__all__ = ["run_checks", "exit_code", "Line", "OK", "INFO", "FAIL"]
