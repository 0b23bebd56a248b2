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
    ) -> "Config":
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
        )

    def signing_secret(self) -> str:
        """The JWT signing secret: MEDITRACK_SECRET, or a file with owner-only permissions."""
        if self.secret:
            return self.secret
        import secrets

        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "secret.key"
        if not path.exists():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(48))
        self.secret = path.read_text().strip()
        return self.secret
