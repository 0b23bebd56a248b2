"""The backend: one dedicated thread that owns the store and runs every service call.

The app (from its thread workers) and the CLI go through :meth:`Backend.call`,
which runs the function on the store thread and returns its result (or raises
its error) in the caller's thread: service calls never overlap, and a unit of
work never spans threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from .config import Config

if TYPE_CHECKING:  # the login screen starts without these (start-up imports)
    from concurrent.futures import ThreadPoolExecutor

    from .services import Services
    from .store import StoreInfo

T = TypeVar("T")


class Backend:
    """Owns the store thread, the store and the services built on it."""

    def __init__(self, config: Config, *, clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self._clock = clock
        # the store thread starts with the first call (the app connects once its login
        # screen is drawn: concurrent.futures is not imported before that)
        self._pool: ThreadPoolExecutor | None = None
        self._thread_id: int | None = None
        self._services: Services | None = None
        self._lock = threading.Lock()
        self._pool_lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        """The store thread's executor (one thread), made on first use."""
        with self._pool_lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix="meditrack-store")
            return self._pool

    def now(self) -> datetime:
        """The service clock (real time, or the fixed clock tests inject)."""
        return self._clock() if self._clock else datetime.now().replace(microsecond=0)

    @property
    def services(self) -> Services:
        """The services (only to be used on the store thread, i.e. inside :meth:`call`)."""
        if self._services is None:
            raise RuntimeError("the backend is not open: use it through Backend.call")
        return self._services

    def _open(self) -> StoreInfo:
        from .files import check_private, ensure_private_dir
        from .services import Services
        from .store import connect

        self._thread_id = threading.get_ident()
        if self._services is None:
            # the data directory holds the embedded store, the secret and the users' folders
            ensure_private_dir(self.config.data_dir)
            check_private(self.config.data_dir)
            store = connect(self.config)
            self._services = Services(store, self.config, clock=self._clock)
        return self._services.store.info

    def open(self) -> StoreInfo:
        """Connect (idempotent) on the store thread; returns the store's info."""
        with self._lock:
            return self._executor().submit(self._open).result()

    @property
    def is_open(self) -> bool:
        return self._services is not None

    def call(self, fn: Callable[[Services], T], *, live: bool = False) -> T:
        """Run ``fn(services)`` on the store thread and return its result.

        ``live`` marks a screen's re-fetch after a change: a read already audited for the
        same session is not audited again (Service.audit_read)."""
        if threading.get_ident() == self._thread_id:
            return fn(self.services)
        if self._services is None:
            self.open()
        return self._executor().submit(self._run, fn, live).result()

    def _run(self, fn: Callable[[Services], T], live: bool = False) -> T:
        """``fn(services)``; a driver's error about the database itself (a lost server, a
        full disk) comes out as the store's MediTrack error, a sentence for the user."""
        services = self.services
        services.ctx.live = live
        try:
            return fn(services)
        except Exception as exc:
            translate = getattr(getattr(services, "store", None), "translate_error", None)
            mapped = translate(exc) if translate is not None else None
            if mapped is None:
                raise
            raise mapped from exc
        finally:
            services.ctx.live = False

    def close(self) -> None:
        """Close the store and stop the thread."""
        if self._services is not None:
            services, self._services = self._services, None
            try:
                self._executor().submit(services.store.close).result(timeout=5)
            except Exception:  # pragma: no cover - best effort at exit
                pass
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
