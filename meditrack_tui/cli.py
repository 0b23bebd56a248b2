"""The ``meditrack`` command: run the app, seed data, create the first admin.

It resolves the configuration, builds the backend (store thread + services) and
hands it to the app; nothing connects at import time.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .config import (
    ENV_DATA_DIR,
    ENV_DB_NAME,
    ENV_IDLE_LOCK,
    ENV_MONGO_URI,
    Config,
)
from .errors import MediTrackError

if TYPE_CHECKING:  # imported where used: the start-up loads only what it needs
    from .runtime import Backend
    from .services import Services


class _Parser(argparse.ArgumentParser):
    """The top-level parser: its epilog is written only when asked for (the help)."""

    _epilog: str | None = None

    @property
    def epilog(self) -> str:
        if self._epilog is None:
            from .cli_help import epilog

            self._epilog = epilog()
        return self._epilog

    @epilog.setter
    def epilog(self, value: str | None) -> None:
        self._epilog = value


# the top-level options that take a value (the next word is theirs, not a command)
_VALUE_OPTIONS = frozenset({"--data-dir", "--mongo-uri", "--db-name", "--idle-lock"})


def only_starts_the_app(argv: Sequence[str]) -> bool:
    """Whether these arguments just start the app: options only, no command, no help.

    Then the parser is built without the subcommands, whose parsers import the deploy and
    FHIR modules (a tenth of the time before the login screen shows)."""
    value_next = False
    for word in argv:
        if value_next:
            value_next = False
        elif word in ("-h", "--help", "--version") or not word.startswith("-"):
            return False
        else:
            value_next = word in _VALUE_OPTIONS
    return True


def build_parser(commands: bool = True) -> argparse.ArgumentParser:
    """The command line's parser; ``commands=False`` leaves the subcommands out (for
    arguments :func:`only_starts_the_app` accepts: they parse the same either way)."""
    parser = _Parser(
        prog="meditrack",
        description="MediTrack: a keyboard-first patient health record system for the terminal.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"meditrack {__version__}")

    def common(p: argparse.ArgumentParser, default: object = None) -> None:
        # Subcommands repeat these options with SUPPRESS defaults, so an option given
        # before the subcommand ("--data-dir X seed") is kept rather than reset.
        p.add_argument("--data-dir", metavar="DIR", default=default,
                       help=f"data directory of the embedded store (env {ENV_DATA_DIR})")
        p.add_argument("--mongo-uri", metavar="URI", default=default,
                       help=f"MongoDB URI (env {ENV_MONGO_URI})")
        p.add_argument("--db-name", metavar="NAME", default=default,
                       help=f"database name (env {ENV_DB_NAME})")
        p.add_argument("--demo", action="store_true",
                       default=False if default is None else default,
                       help="use the demo data directory on the embedded store, seeding the "
                            "demo clinic when empty")

    common(parser)
    parser.add_argument("--idle-lock", type=float, metavar="MINUTES",
                        help="minutes of inactivity before the terminal locks "
                             f"(env {ENV_IDLE_LOCK})")
    if not commands:
        parser.set_defaults(command=None)
        return parser
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=argparse.ArgumentParser)
    seed = sub.add_parser("seed", help="load the demo clinic or synthetic patients")
    common(seed, argparse.SUPPRESS)
    seed.add_argument("--patients", type=int, metavar="N", help="generate N synthetic patients")
    admin = sub.add_parser("create-admin", help="create the first administrator")
    common(admin, argparse.SUPPRESS)
    admin.add_argument("--username", help="the admin's username (asked for when missing)")
    admin.add_argument("--full-name", help="the admin's full name (asked for when missing)")
    audit = sub.add_parser("audit", help="check the audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = audit_sub.add_parser(
        "verify", help="check that no entry was edited, removed or inserted behind the "
                       "app's back (exit 0: intact, 1: not intact, 2: could not check)")
    common(verify, argparse.SUPPRESS)
    verify.add_argument("--since", metavar="CHECKPOINT",
                        help="a checkpoint an earlier run printed (SEQ:HASH): also report a "
                             "trail cut back or rewritten to before it")
    backup = sub.add_parser(
        "backup", help="write a backup of every record, the audit trail and the report "
                       "files to a new FILE while others keep working; with --verify, "
                       "check a backup instead (exit 0: intact, 1: damaged, 2: could not "
                       "check)")
    common(backup, argparse.SUPPRESS)
    backup.add_argument("file", metavar="FILE", help="the backup file (never overwritten)")
    backup.add_argument("--verify", action="store_true",
                        help="check FILE without restoring it: every member against the "
                             "manifest, and the audit seals when the secret is at hand")
    restore = sub.add_parser(
        "restore", help="restore a backup into an EMPTY store and verify it (exit 0: "
                        "restored and intact, 1: damaged or not intact, 2: not restored or "
                        "not checked)")
    common(restore, argparse.SUPPRESS)
    restore.add_argument("file", metavar="FILE", help="the backup file")
    doctor = sub.add_parser(
        "doctor", help="check what needs fixing before going live (exit 1 when something "
                       "does)")
    common(doctor, argparse.SUPPRESS)
    from .deploy import add_parser as add_deploy_parser

    add_deploy_parser(sub)
    from .fhir.cli import add_parsers as add_fhir_parsers

    add_fhir_parsers(sub, common)

    serve = sub.add_parser(
        "serve", help="serve the app to browsers (textual-serve): each browser session runs "
                      "its own MediTrack and logs in there; loopback only unless --public, "
                      "behind a TLS reverse proxy (docs/deploy.md)")
    common(serve, argparse.SUPPRESS)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; another address is "
                            "refused without --public)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--public", action="store_true",
                       help="allow a non-loopback --host (a TLS proxy is still required)")
    serve.add_argument("--public-url", metavar="URL",
                       help="the address browsers open, e.g. https://meditrack.example.org "
                            "(the TLS proxy's); the page's links are built on it")
    sub.add_parser("run", help="start the app (the default)")
    return parser


def resolve_config(args: argparse.Namespace) -> Config:
    data_dir = getattr(args, "data_dir", None)
    mongo_uri = getattr(args, "mongo_uri", None)
    env = None
    if getattr(args, "demo", False):
        # The demo never touches a real clinic's database: always the embedded store.
        if mongo_uri:
            raise ValueError("--demo runs on the embedded store; leave out --mongo-uri")
        env = {k: v for k, v in os.environ.items() if k != ENV_MONGO_URI}
        if ENV_MONGO_URI in os.environ:
            print(f"Demo: ignoring {ENV_MONGO_URI}; the demo uses its own embedded store.")
        if not data_dir:
            data_dir = str(Path(Config.from_env(env).data_dir) / "demo")
    config = Config.from_env(env, data_dir=data_dir, mongo_uri=mongo_uri,
                             db_name=getattr(args, "db_name", None))
    if getattr(args, "idle_lock", None):
        if args.idle_lock <= 0:
            raise SystemExit("meditrack: --idle-lock must be greater than zero")
        config.idle_lock_minutes = args.idle_lock
    return config


def store_location(config: Config) -> str:
    """The data directory, or the MongoDB database (host, never credentials), for messages."""
    if config.uses_mongodb:
        from .store.mongo.store import describe_uri

        return f"the database '{config.db_name}' at {describe_uri(config.mongo_uri or '')}"
    return str(config.data_dir)


def _seed_demo_if_empty(backend: Backend, quiet: bool = False) -> bool:
    from . import seed

    where = store_location(backend.config)

    def run(services: Services) -> dict[str, int] | None:
        if seed.demo_state(services, where=where) != "empty":
            return None
        return seed.load_demo(services)

    counts = backend.call(run)
    if counts and not quiet:
        print("Loaded the demo clinic: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return counts is not None


def cmd_seed(args: argparse.Namespace, config: Config) -> int:
    from rich.progress import Progress

    from . import seed
    from .runtime import Backend

    if args.patients is not None and args.patients < 1:
        print("meditrack: --patients must be at least 1", file=sys.stderr)
        return 2
    backend = Backend(config)
    try:
        backend.open()
        if getattr(args, "demo", False) or args.patients is None:
            if not _seed_demo_if_empty(backend):
                print("The store already has data; the demo clinic was not loaded again.")
        if args.patients:
            with Progress() as progress:
                task = progress.add_task("Generating patients", total=args.patients)
                totals = backend.call(lambda s: seed.generate(
                    s, args.patients,
                    progress=lambda n: progress.advance(task, n)))
            print("Added " + ", ".join(f"{v} {k}" for k, v in totals.items()))
    finally:
        backend.close()
    return 0


def cmd_create_admin(args: argparse.Namespace, config: Config) -> int:
    from .runtime import Backend

    backend = Backend(config)
    try:
        backend.open()
        if backend.call(lambda s: s.auth.has_admin()):
            print("An administrator already exists; log in and create users from the Admin screen.")
            return 1
        username = args.username or input("Username: ").strip()
        full_name = args.full_name or input("Full name: ").strip()
        import getpass

        password = getpass.getpass("Password (at least 10 characters): ")
        if getpass.getpass("Repeat the password: ") != password:
            print("The passwords do not match.", file=sys.stderr)
            return 1
        backend.call(lambda s: s.auth.create_first_admin(username, password, full_name,
                                                         from_shell=True))
        print(f"Created the administrator {username}.")
    finally:
        backend.close()
    return 0


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    from .quiet_gc import pause_for_startup, resume_after_startup

    pause_for_startup()  # until the login screen is drawn (MediTrackApp resumes it)
    try:
        return _run_app(args, config)
    finally:
        resume_after_startup()  # the app never drew its login screen (an error, a test)


def _run_app(args: argparse.Namespace, config: Config) -> int:
    from .runtime import Backend

    backend = Backend(config)
    demo_logins = None
    try:
        if getattr(args, "demo", False):
            from .seed import DEMO_LOGINS, DEMO_PASSWORD

            backend.open()
            _seed_demo_if_empty(backend)
            demo_logins = (DEMO_LOGINS, DEMO_PASSWORD)
            print(f"Demo data directory: {config.data_dir}")
            print(f"Demo logins: {', '.join(DEMO_LOGINS)} (password: {DEMO_PASSWORD})")
        from .screens.app import MediTrackApp

        app = MediTrackApp(backend, demo_logins=demo_logins)
        app.run()
    finally:
        backend.close()
    if demo_logins:
        print(f"Demo logins: {', '.join(demo_logins[0])} (password: {demo_logins[1]})")
    return 0


def os_error_text(exc: OSError) -> str:
    """A sentence for a file that could not be read or written."""
    import errno

    name = exc.filename or "a file"
    where = Path(exc.filename).parent if exc.filename else None
    if exc.errno == errno.ENOSPC:
        return (f"The disk holding {where or name} is full, so {name} could not be written. "
                "Free space on that disk, then try again.")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (f"MediTrack may not write {name} ({exc.strerror}). Check the permissions of "
                f"{where or name} and that its disk is not mounted read-only.")
    return (f"{name} could not be used ({exc.strerror or exc}). "
            "Check that it exists and is readable.")


def main(argv: Sequence[str] | None = None) -> int:
    # Before anything opens a file: whatever MediTrack creates is its account's alone.
    os.umask(0o077)
    words = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(commands=not only_starts_the_app(words)).parse_args(words)
    try:
        config = resolve_config(args)
        if args.command == "seed":
            return cmd_seed(args, config)
        if args.command == "create-admin":
            return cmd_create_admin(args, config)
        if args.command in ("audit", "backup", "restore", "doctor"):
            from . import server_commands

            return server_commands.run(args, config)
        if args.command == "serve":
            from .screens.serve import serve

            status: int = serve(config, host=args.host, port=args.port, public=args.public,
                                public_url=args.public_url, demo=getattr(args, "demo", False),
                                idle_lock=getattr(args, "idle_lock", None))
            return status
        if args.command in ("export", "import"):
            from .fhir import cli as fhir_cli

            return fhir_cli.run(args, config)
        if args.command == "deploy":
            from .deploy import cmd_deploy

            return cmd_deploy(args)
        if "SSH_ORIGINAL_COMMAND" in os.environ:
            # the SSH ForceCommand (meditrack deploy ssh) was asked for a command or a
            # file transfer instead of the app: refuse it in a sentence
            from .refusals import ssh_command_refusal

            print(f"meditrack: {ssh_command_refusal()}", file=sys.stderr)
            return 1
        from .refusals import no_terminal_refusal

        refusal = no_terminal_refusal()
        if refusal:  # ssh -T, or input or output not a terminal: it would draw nowhere
            print(f"meditrack: {refusal}", file=sys.stderr)
            return 1
        return cmd_run(args, config)
    except MediTrackError as exc:
        print(f"meditrack: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file of ours (the secret, the demo data) cannot be used
        print(f"meditrack: {os_error_text(exc)}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"meditrack: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
