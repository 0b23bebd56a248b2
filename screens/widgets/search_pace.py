"""When a search-as-you-type list sends its search: at once for every key, without waiting
for a pause in the typing (a search takes a few milliseconds), except while one is on its
way: keys typed meanwhile only mark it stale, its answer is then dropped and one search
for the latest text goes out. So fast typing never queues a search per key.
"""

from __future__ import annotations

import time

ANSWER_WAIT = 2.0  # seconds a search may take before a newly typed key sends another


class SearchPace:
    """The state of a list's latest search (the screen sends it and shows the answers)."""

    def __init__(self, answer_wait: float = ANSWER_WAIT) -> None:
        self.answer_wait = answer_wait
        #: a search is on its way (its answer, or its failure, not shown yet)
        self.asked = False
        #: typed while a search was on its way: search again as soon as it answers
        self.stale = False
        self.sent_at = 0.0

    def sent(self) -> None:
        """A search for the current text went out."""
        self.stale = False
        self.asked = True
        self.sent_at = time.monotonic()

    def typed(self) -> bool:
        """The text changed: True to search now; False while a search is on its way (it
        is marked stale; an answer that never came within ``answer_wait`` does not count)."""
        if self.asked and time.monotonic() - self.sent_at < self.answer_wait:
            self.stale = True
            return False
        return True

    def answered(self) -> bool:
        """The answer (or the failure) came: True to show it; False when it is stale (the
        text changed meanwhile: search again instead)."""
        self.asked = False
        return not self.stale

    @property
    def searching(self) -> bool:
        """A search is on its way (or must be sent again): the list is not yet current."""
        return self.asked or self.stale


__all__ = ["ANSWER_WAIT", "SearchPace"]
