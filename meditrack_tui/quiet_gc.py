"""Full garbage collections at quiet moments instead of in the middle of a keypress.

CPython's cyclic collector now and then examines every tracked object (a generation-2,
"full" collection). With Textual, plotext, pymongo and the embedded store's indexes
loaded that takes 40-130 ms on a small machine with the GIL held, so when one lands
while a chart is being drawn the user sees the screen stall (it was the slow half of
the vitals chart benchmark's opens). :class:`QuietCollector` raises the threshold at
which full collections start on their own and runs them itself once the user has been
idle for a moment; a user who never pauses still gets one after ``limit`` younger
collections, so garbage cannot pile up without bound. Younger collections (a few ms)
are left to Python.
"""

from __future__ import annotations

import gc


class QuietCollector:
    """Moves full collections to moments when the user is not typing.

    ``tick(idle_for)`` is called periodically with the seconds since the last input; it
    runs a full collection when the user has been idle ``quiet`` seconds and at least
    ``due`` younger (generation-1) collections have happened since the last full one
    (Python's own default is 10).
    """

    def __init__(self, *, quiet: float = 0.75, due: int = 10, limit: int = 200) -> None:
        self.quiet = quiet
        self.due = due
        self.limit = limit
        self._saved: tuple[int, int, int] | None = None
        self.collections = 0

    def install(self) -> None:
        if self._saved is None:
            self._saved = gc.get_threshold()
            first, second, _third = self._saved
            gc.set_threshold(first, second, self.limit)

    def uninstall(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    @property
    def installed(self) -> bool:
        return self._saved is not None

    def tick(self, idle_for: float) -> bool:
        """Collect now if the user is idle and a full collection is due; True if it ran."""
        if not self.installed or idle_for < self.quiet or gc.get_count()[2] < self.due:
            return False
        gc.collect()
        self.collections += 1
        return True


_paused_for_startup = False


def pause_for_startup() -> None:
    """No cyclic collections while the app starts (until :func:`resume_after_startup`).

    Importing Textual and building the login screen allocates hundreds of thousands of
    objects that all live as long as the process; the collector would examine them over
    and over (about 25 ms before the first frame on this machine) and find nothing to
    free. Does nothing when the collector is already off (someone else's choice)."""
    global _paused_for_startup
    if gc.isenabled():
        gc.disable()
        _paused_for_startup = True


def resume_after_startup() -> None:
    """Collect again, leaving what start-up built out of every later collection (it lives
    as long as the process: ``gc.freeze``). Only undoes :func:`pause_for_startup`."""
    global _paused_for_startup
    if _paused_for_startup:
        _paused_for_startup = False
        gc.freeze()
        gc.enable()


__all__ = ["QuietCollector", "pause_for_startup", "resume_after_startup"]
