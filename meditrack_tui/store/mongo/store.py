"""Connecting to the MongoDB store and its unit of work (indexes and the schema version:
schema.py).

Units of work: on a replica set or sharded cluster (``hello`` says so) the outermost
``unit_of_work()`` is a multi-document transaction on a ClientSession that every
repository call on that thread uses (a thread-local current session; inner units join).
The commit is retried while the driver reports UnknownTransactionCommitResult. A block
cannot be run again by a context manager, so a TransientTransactionError (another
transaction wrote the same document first: a write conflict) aborts the transaction and
surfaces as :class:`~meditrack_tui.errors.StoreBusy` ("try again"); the caller may retry
the whole operation. GridFS cannot take part in a transaction (the driver refuses): a
file is stored at once and deleted again should the unit abort, and a file deleted in a
unit goes only once it commits. On a standalone server there is no transaction: every write commits
on its own, in the order issued (record, then audit entry, then change event).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from ...errors import MediTrackError, StoreBusy, StoreFull, StoreReadOnly, StoreUnavailable
from ..base import MONGODB, SCHEMA_VERSION, Doc, FileInfo, Store, StoreInfo
from ..rows import AuditHead
from .schema import check_schema, ensure_indexes


def describe_uri(uri: str) -> str:
    """The host part of a MongoDB URI, without credentials, for messages."""
    try:
        parts = urlsplit(uri)
        host = parts.netloc.rsplit("@", 1)[-1]
        return host or "the configured server"
    except ValueError:
        return "the configured server"


# MongoDB's codes for "this server cannot take writes now" (no primary, stepping down)
NOT_PRIMARY = {10107, 13435, 13436, 189, 11600, 11602, 91}
OUT_OF_SPACE = {14031}  # OutOfDiskSpace
ACCESS = {13, 18}  # Unauthorized, AuthenticationFailed


def translate(exc: BaseException, host: str, db_name: str) -> MediTrackError | None:
    """The MediTrack error for a pymongo error about the server (None: not one of those).
    ``host`` is the URI's host part, never its credentials."""
    from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError, WriteConcernError

    if not isinstance(exc, PyMongoError):
        return None
    code = getattr(exc, "code", None)
    text = str(exc).lower()
    if isinstance(exc, ConnectionFailure):  # also ServerSelectionTimeoutError, AutoReconnect
        if code in NOT_PRIMARY or "not primary" in text or "not master" in text:
            return _not_primary(host)
        return StoreUnavailable(
            f"Lost the connection to MongoDB at {host}. Check that the server is running and "
            "that this machine can reach it (host, port, firewall), then try again.")
    if not isinstance(exc, (OperationFailure, WriteConcernError)):
        return None
    if code in OUT_OF_SPACE or "no space left" in text or "disk full" in text:
        return StoreFull(
            f"MongoDB at {host} has no disk space left for the database '{db_name}', so "
            "nothing can be saved. Ask the administrator of that server to free space on "
            "its disk, then try again.")
    if code in NOT_PRIMARY:
        return _not_primary(host)
    if code in ACCESS:
        return StoreReadOnly(
            f"MongoDB at {host} refused this account access to the database '{db_name}'. "
            "Check the user name, password and roles in MEDITRACK_MONGO_URI.")
    return None


def _not_primary(host: str) -> StoreUnavailable:
    return StoreUnavailable(
        f"MongoDB at {host} cannot save changes right now: no server of the replica set is "
        "the primary. Try again in a moment; if it lasts, check the health of the replica "
        "set.")



class MongoStore(Store):
    """An open MongoDB database: the repositories, units of work, housekeeping."""

    def __init__(self, client: Any, db: Any, info: StoreInfo) -> None:
        from .accounts import Sessions, Settings, Users
        from .clinical import Appointments, Prescriptions, Reports, Vitals
        from .journal import Audit, Changes, Counters
        from .patients import Patients

        self.client = client
        self.db = db
        self.info = info
        self.schema_version = SCHEMA_VERSION
        self._local = threading.local()
        self.users = Users(self, "users")
        self.sessions = Sessions(self, "sessions")
        self.patients = Patients(self, "patients")
        self.appointments = Appointments(self, "appointments")
        self.prescriptions = Prescriptions(self, "prescriptions")
        self.vitals = Vitals(self, "vitals")
        self.reports = Reports(self, "reports")
        self.audit = Audit(self, "audit")
        self.changes = Changes(self, "changes")
        self.counters = Counters(self, "counters")
        self.settings = Settings(self, "settings")

    def translate_error(self, exc: BaseException) -> MediTrackError | None:
        """The MediTrack error (a sentence naming the server) for a pymongo error."""
        return translate(exc, self.info.location, getattr(self.db, "name", "meditrack"))

    @contextmanager
    def _mapped(self) -> Iterator[None]:
        from pymongo.errors import PyMongoError

        try:
            yield
        except PyMongoError as exc:
            mapped = self.translate_error(exc)
            if mapped is None:
                raise
            raise mapped from exc

    # --- units of work ---

    def session(self) -> Any:
        """The current unit of work's ClientSession on this thread (None: no transaction)."""
        return getattr(self._local, "session", None)

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        local = self._local
        if getattr(local, "depth", 0):
            local.depth += 1  # an inner unit joins the outer one
            try:
                yield
            finally:
                local.depth -= 1
            return
        if not self.info.transactions:
            local.depth = 1  # standalone: each write commits on its own, in order
            try:
                with self._mapped():
                    yield
            finally:
                local.depth = 0
            return
        with self._mapped():
            yield from self._transaction()

    def _transaction(self) -> Iterator[None]:
        from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError
        from pymongo.read_concern import ReadConcern
        from pymongo.write_concern import WriteConcern

        local = self._local
        session = self.client.start_session()
        local.session, local.depth = session, 1
        local.on_commit, local.on_abort = [], []
        committed = False
        try:
            session.start_transaction(read_concern=ReadConcern("snapshot"),
                                      write_concern=WriteConcern("majority"))
            try:
                yield
            except BaseException:
                if session.in_transaction:
                    try:
                        session.abort_transaction()
                    except PyMongoError:  # best effort: the server aborts it anyway
                        pass
                raise
            local.session, local.depth = None, 0
            for attempt in range(5):
                try:
                    session.commit_transaction()
                    committed = True
                    break
                except (ConnectionFailure, OperationFailure) as exc:
                    # the driver already retried once; UnknownTransactionCommitResult may
                    # be retried again (the commit is idempotent)
                    if exc.has_error_label("UnknownTransactionCommitResult") and attempt < 4:
                        continue
                    raise
        except PyMongoError as exc:
            if exc.has_error_label("TransientTransactionError"):
                raise StoreBusy(
                    "Someone else changed the same records at the same moment, so nothing "
                    "was saved. Please try again.") from exc
            raise
        finally:
            actions = local.on_commit if committed else local.on_abort
            local.session, local.depth, local.on_commit, local.on_abort = None, 0, [], []
            session.end_session()
            for action in actions:
                try:
                    action()
                except Exception:  # noqa: BLE001 - best effort (an orphan file at worst)
                    pass

    def defer(self, *, on_commit: Any = None, on_abort: Any = None) -> bool:
        """In a transaction, run ``on_commit`` after it commits or ``on_abort`` after it
        aborts, and say True; outside one (nothing to wait for) say False. For what cannot
        be part of a transaction (GridFS files)."""
        if self.session() is None:
            return False
        if on_commit is not None:
            self._local.on_commit.append(on_commit)
        if on_abort is not None:
            self._local.on_abort.append(on_abort)
        return True

    def bulk(self) -> Any:
        """Seeding: the same unit of work (one transaction on a replica set)."""
        return self.unit_of_work()

    # --- housekeeping ---

    def is_empty(self) -> bool:
        session = self.session()
        return (self.db.users.find_one({}, {"_id": 1}, session=session) is None
                and self.db.patients.find_one({}, {"_id": 1}, session=session) is None)

    def open_feed(self, scope: Any = None) -> Any:
        """A change stream on a replica set or sharded cluster, else the change log."""
        if self.info.supports_change_streams:
            from .feed import ChangeStreamFeed

            return ChangeStreamFeed(self.db, scope=scope)
        from ...live import ChangeLogFeed

        return ChangeLogFeed(self, scope=scope)

    def files_bucket(self) -> Any:
        """The GridFS bucket of report files."""
        bucket = getattr(self, "_bucket", None)
        if bucket is None:
            import gridfs

            bucket = self._bucket = gridfs.GridFSBucket(self.db, bucket_name="report_files")
        return bucket

    def drop_all(self) -> None:
        self.client.drop_database(self.db.name)

    # --- backup and restore (store/mongo/transfer.py) ---

    def set_read_session(self, session: Any) -> None:
        """Make ``session`` (a snapshot session) the one this thread's reads use; None
        ends it. Only outside a unit of work (a backup writes nothing)."""
        self._local.session = session

    def snapshot(self) -> Any:
        from . import transfer

        return transfer.snapshot(self)

    def export_records(self, name: str) -> Iterator[Doc]:
        from . import transfer

        return transfer.export_records(self, name)

    def export_files(self) -> Iterator[tuple[FileInfo, bytes]]:
        from . import transfer

        return transfer.export_files(self)

    def import_records(self, name: str, docs: Sequence[Doc]) -> None:
        from . import transfer

        with self._mapped():
            transfer.import_records(self, name, docs)

    def import_file(self, info: FileInfo, data: bytes) -> None:
        from . import transfer

        with self._mapped():
            transfer.import_file(self, info, data)

    def import_audit_head(self, head: AuditHead) -> None:
        from . import transfer

        with self._mapped():
            transfer.import_audit_head(self, head)

    def has_files(self) -> bool:
        from . import transfer

        return transfer.has_files(self)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


def open_mongo(config: Any, timeout_ms: int = 4000) -> MongoStore:
    """Connect (short timeouts unless the URI sets them), detect a replica set, create the
    indexes and check the schema version."""
    import pymongo
    from pymongo.errors import ConfigurationError, OperationFailure, PyMongoError

    uri = config.mongo_uri
    assert uri
    host = describe_uri(uri)
    # Short timeouts so an unreachable server is reported quickly; options the URI sets win
    # (keyword arguments would override them).
    try:
        query = urlsplit(uri).query.lower()
    except ValueError:
        query = ""  # pymongo reports what is wrong with the address below
    # (MongoClient takes these options as **kwargs: Any)
    timeouts: dict[str, Any] = {
        name: timeout_ms for name in ("serverSelectionTimeoutMS", "connectTimeoutMS")
        if name.lower() + "=" not in query}
    try:
        client: Any = pymongo.MongoClient(uri, tz_aware=False, **timeouts)
        hello = client.admin.command("hello")
    except (ConfigurationError, ValueError) as exc:  # pymongo raises both for a bad URI
        raise StoreUnavailable(
            f"The MongoDB address ({host}) is not valid: {exc}. Check MEDITRACK_MONGO_URI."
        ) from exc
    except PyMongoError as exc:
        raise StoreUnavailable(
            f"Cannot reach MongoDB at {host}. Check that the server is running, that this "
            "machine can reach it (host, port, firewall), and the user name and password "
            "in MEDITRACK_MONGO_URI."
        ) from exc
    # Change streams and transactions need a replica set or a sharded cluster.
    replicated = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
    db = client[config.db_name]
    store = MongoStore(client, db, StoreInfo(MONGODB, host, replicated, replicated))
    try:
        store.schema_version = check_schema(db, host)
        ensure_indexes(db)
    except OperationFailure as exc:
        client.close()
        mapped = translate(exc, host, db.name)
        if mapped is not None and not isinstance(mapped, StoreReadOnly):
            raise mapped from exc
        if exc.code in (13, 18):  # Unauthorized, AuthenticationFailed
            raise StoreUnavailable(
                f"MongoDB at {host} refused access to the database '{db.name}'. Check the "
                "user name, password and roles in MEDITRACK_MONGO_URI.") from exc
        raise StoreUnavailable(f"MongoDB at {host} could not open the database "
                               f"'{db.name}': {exc}") from exc
    except PyMongoError as exc:
        client.close()
        raise StoreUnavailable(f"Lost the connection to MongoDB at {host} while opening "
                               f"the database '{db.name}'. Try again.") from exc
    except StoreUnavailable:
        client.close()
        raise
    return store
