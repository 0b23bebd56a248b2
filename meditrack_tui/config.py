"""Configuration: environment variables and command-line options resolved into one object."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ENV_MONGO_URI = "MEDITRACK_MONGO_URI"
ENV_DATA_DIR = "MEDITRACK_DATA_DIR"
ENV_DB_NAME = "MEDITRACK_DB_NAME"
ENV_SECRET = "MEDITRACK_SECRET"
ENV_IDLE_LOCK = "MEDITRACK_IDLE_LOCK_MINUTES"
ENV_MAX_UPLOAD = "MEDITRACK_MAX_UPLOAD_MB"
ENV_LOCKOUT = "MEDITRACK_LOCKOUT_MINUTES"
ENV_SESSION_HOURS = "MEDITRACK_SESSION_HOURS"
ENV_SCAN_DIRS = "MEDITRACK_SCAN_DIRS"
ENV_MRN_SYSTEM = "MEDITRACK_FHIR_MRN_SYSTEM"
DEFAULT_MRN_SYSTEM = "urn:meditrack:mrn"


def default_data_dir() -> Path:
    """The platform's user data directory for MediTrack (e.g. ~/.local/share/meditrack)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("meditrack", appauthor=False))


def _number(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be greater than zero, got {raw!r}")
    return value


def _uri(env: dict[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if ":" not in raw or any(c.isspace() for c in raw):
        raise ValueError(f"{name} must be a URI such as https://clinic.example.org/mrn or "
                         f"urn:oid:1.2.3, got {raw!r}")
    return raw


@dataclass
class Config:
    """Everything the store, the services and the app need to know about this installation."""

    data_dir: Path = field(default_factory=default_data_dir)
    mongo_uri: str | None = None
    db_name: str = "meditrack"
    secret: str | None = None
    idle_lock_minutes: float = 10.0
    max_upload_mb: float = 10.0
    lockout_minutes: float = 15.0
    max_failed_logins: int = 5
    session_hours: float = 12.0
    #: folders staff may upload scans from (set by whoever runs the service; never a user)
    scan_dirs: list[Path] = field(default_factory=list)
    #: the identifier system (a URI) under which FHIR exports carry this clinic's MRNs
    mrn_system: str = DEFAULT_MRN_SYSTEM

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def uses_mongodb(self) -> bool:
        return bool(self.mongo_uri)

    @classmethod
    def from_env(
        cls,
        env: dict[str, str] | None = None,
        *,
        data_dir: str | Path | None = None,
        mongo_uri: str | None = None,
        db_name: str | None = None,
    ) -> Config:
        """Build a config from the environment; explicit arguments (command-line options) win."""
        env = dict(os.environ if env is None else env)
        resolved_dir = data_dir or env.get(ENV_DATA_DIR)
        return cls(
            data_dir=Path(resolved_dir).expanduser() if resolved_dir else default_data_dir(),
            mongo_uri=mongo_uri or env.get(ENV_MONGO_URI) or None,
            db_name=db_name or env.get(ENV_DB_NAME) or "meditrack",
            secret=env.get(ENV_SECRET) or None,
            idle_lock_minutes=_number(env, ENV_IDLE_LOCK, 10.0),
            max_upload_mb=_number(env, ENV_MAX_UPLOAD, 10.0),
            lockout_minutes=_number(env, ENV_LOCKOUT, 15.0),
            session_hours=_number(env, ENV_SESSION_HOURS, 12.0),
            scan_dirs=[Path(p).expanduser() for p in
                       (env.get(ENV_SCAN_DIRS) or "").split(os.pathsep) if p.strip()],
            mrn_system=_uri(env, ENV_MRN_SYSTEM, DEFAULT_MRN_SYSTEM),
        )

    def signing_secret(self) -> str:
        """The JWT signing secret: MEDITRACK_SECRET, or a file with owner-only permissions.

        The file is written whole under a temporary name and then linked into place, so an
        interrupted first start never leaves an empty or partial secret; one left empty by
        an older version is replaced (no token can have been signed with it)."""
        if self.secret:
            return self.secret
        from .files import ensure_private_dir

        ensure_private_dir(self.data_dir)
        path = self.data_dir / "secret.key"
        for _attempt in range(3):
            try:
                text = path.read_text().strip()
            except FileNotFoundError:
                text = ""
            if text:
                self.secret = text
                return text
            self._write_secret(path, replace=path.exists())
        raise RuntimeError(f"could not create {path}")  # pragma: no cover

    @staticmethod
    def _write_secret(path: Path, *, replace: bool) -> None:
        import secrets

        tmp = path.with_name(f".secret.key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
                handle.flush()
                os.fsync(handle.fileno())
            if replace:
                os.replace(tmp, path)  # an empty secret from an interrupted older start
            else:
                try:
                    os.link(tmp, path)  # fails if another process got there first
                except FileExistsError:
                    pass
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
