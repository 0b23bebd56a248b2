"""Live updates: the App's feed worker polls the change feed on its own connection and
turns other sessions' changes into DataChanged messages for the open screens."""

from __future__ import annotations

import logging
import time
from typing import Any

from textual import work
from textual.app import App

FEED_LOG = logging.getLogger("meditrack_tui.feed")


class LiveFeedApp(App[None]):
    """The App's live-update half: MediTrackApp builds on it and provides ``backend``,
    ``session`` and ``dispatch_changes`` (what the events mean to the open screens)."""

    backend: Any
    session: Any
    feed_ok: bool

    def dispatch_changes(self, events: list[Any]) -> None:
        raise NotImplementedError

    def start_feed(self) -> None:
        """Start polling the change feed (other sessions' changes) in a thread worker.

        The worker follows the session: after a login or logout it reopens the feed with
        the session's scope (a patient's feed carries only their own records).
        """
        self._feed_worker()

    FEED_INTERVAL = 0.25
    FEED_RETRY = (0.5, 30.0)  # the first and the longest wait after a failed poll
    FEED_RECONNECT_AFTER = 3  # failures in a row before the connection is opened afresh

    def feed_scope(self) -> Any:
        """What the feed filters at the source: a patient's own records; None: everything."""
        from meditrack_tui.live import Scope

        session = self.session
        if session is not None and session.role == "patient":
            return Scope(session.patient_id, session.user_id)
        return None

    @work(thread=True, exit_on_error=False, group="feed", exclusive=True)
    def _feed_worker(self) -> None:
        """Poll the feed; on errors retry with backoff and tell the user once, and again on
        recovery (then screens re-fetch everything, as events may have been missed)."""
        from textual.worker import get_current_worker

        from meditrack_tui.live import WATCHED, open_feed, resync_events
        from meditrack_tui.store import connect

        worker = get_current_worker()
        store: Any = None
        feed: Any = None
        scope: Any = ()
        failures = 0

        def drop() -> None:
            nonlocal store, feed
            for thing in (feed, store):
                try:
                    if thing is not None:
                        thing.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
            store = feed = None

        try:
            while not worker.is_cancelled:
                try:
                    # The feed has its own connection on its own thread, so polling never
                    # waits behind (or delays) the screens' service calls.
                    if store is None:
                        store = connect(self.backend.config)
                    wanted = self.feed_scope()
                    if feed is None or wanted != scope:
                        if feed is not None:
                            feed.close()
                            feed = None
                        feed = open_feed(store, wanted)
                        scope = wanted
                    events = feed.poll()
                except Exception as exc:  # noqa: BLE001 - live updates must not end silently
                    failures += 1
                    first, longest = self.FEED_RETRY
                    wait = min(longest, first * 2 ** (failures - 1))
                    FEED_LOG.warning("live updates: %s: %s (attempt %d; retrying in %.1f s)",
                                     type(exc).__name__, exc, failures, wait)
                    if failures == 1:
                        self._feed_tell(worker, self._feed_interrupted)
                    if failures % self.FEED_RECONNECT_AFTER == 0:
                        drop()
                    self._feed_wait(worker, wait)
                    continue
                if failures:
                    FEED_LOG.warning("live updates resumed after %d failed attempts", failures)
                    failures = 0
                    events = [*events, *resync_events(WATCHED)]
                    self._feed_tell(worker, self._feed_resumed)
                if events:
                    self._feed_tell(worker, self.dispatch_changes, events)
                self._feed_wait(worker, self.FEED_INTERVAL)
        finally:
            drop()

    @staticmethod
    def _feed_wait(worker: Any, seconds: float) -> None:
        """Sleep, waking early when the worker is cancelled."""
        deadline = time.monotonic() + seconds
        while not worker.is_cancelled:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.25))

    def _feed_tell(self, worker: Any, fn: Any, *args: Any) -> None:
        if worker.is_cancelled:
            return
        try:
            self.call_from_thread(fn, *args)
        except RuntimeError:  # the app is shutting down
            pass

    def _feed_interrupted(self) -> None:
        self.feed_ok = False
        self.notify("Live updates are interrupted: other users' changes may not show until "
                    "they resume. Retrying…", title="Live updates", severity="warning",
                    timeout=8, markup=False)

    def _feed_resumed(self) -> None:
        self.feed_ok = True
        self.notify("Live updates have resumed.", title="Live updates", timeout=4, markup=False)
