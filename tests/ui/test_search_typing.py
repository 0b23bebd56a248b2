"""Search that keeps up with typing (issue 12, item 6): a key searches at once, keys typed
while a search is on its way make one more search for the latest text (never one per key,
never a stale list drawn), and an answer with the rows already shown does not redraw the
table. The figures are in docs/benchmarks.md (benchmarks/search_tmux.py)."""

from __future__ import annotations

import threading

from meditrack_tui.screens.patients import PatientListScreen
from textual.widgets import DataTable, Static

from meditrack_tui.services.patients import PatientService
from tests.conftest import settle, sync


async def open_list(app, pilot) -> PatientListScreen:
    await pilot.pause()
    app.session = app.backend.call(lambda s: s.auth.login("demo.doctor", "meditrack-demo"))
    app.refresh_bindings()
    await pilot.press("f3")
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, PatientListScreen)
    return screen


async def until(pilot, condition, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("timed out")


def idle(screen: PatientListScreen) -> bool:
    """The list shows the answer to the latest search and no other search is due."""
    return not screen.searching


def names(screen: PatientListScreen) -> list[str]:
    return sorted(str(v) for v in screen.query_one("#pl-table", DataTable).get_column("name"))


def status(screen: PatientListScreen) -> str:
    return str(screen.query_one("#pl-status", Static).render())


@sync
async def test_keys_typed_while_a_search_runs_make_one_search_for_the_latest_text(
        make_app, monkeypatch):
    gate = threading.Event()
    searched: list[str] = []
    original = PatientService.list

    def slow_list(self, session, **kwargs):
        if kwargs.get("query"):
            searched.append(kwargs["query"])
            if len(searched) == 1:
                gate.wait(10)  # the first search is slow to answer
        return original(self, session, **kwargs)

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_list(app, pilot)
        drawn: list[str] = []
        render_rows = screen._render_rows
        monkeypatch.setattr(screen, "_render_rows",
                            lambda: (drawn.append(screen.query_text), render_rows()))
        monkeypatch.setattr(PatientService, "list", slow_list)

        await pilot.press("w")  # searched at once, without waiting for a pause in typing
        await until(pilot, lambda: searched == ["w"], seconds=2)
        for key in "hit":  # typed at a person's pace while the first answer is on its way
            await pilot.press(key)
            await pilot.pause(0.1)
        assert searched == ["w"]  # no search per key piles up behind the slow one
        gate.set()
        await until(pilot, lambda: idle(screen))
        await settle(app, pilot)

        assert searched == ["w", "whit"]  # one more search, for the latest text
        assert drawn == ["whit"]  # the answer for "w" was never drawn
        assert names(screen) == ["Eleanor Whitfield", "Grace Whitaker"]
        assert "2 patients" in status(screen)


@sync
async def test_an_answer_with_the_same_rows_keeps_the_table_as_drawn(make_app, monkeypatch):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_list(app, pilot)
        for key in "whita":
            await pilot.press(key)
            await pilot.pause(0.05)
        await until(pilot, lambda: idle(screen) and screen.query_text == "whita")
        await settle(app, pilot)
        assert names(screen) == ["Grace Whitaker"]
        drawn: list[str] = []
        render_rows = screen._render_rows
        monkeypatch.setattr(screen, "_render_rows",
                            lambda: (drawn.append(screen.query_text), render_rows()))

        await pilot.press("k")  # "whitak": the same single row
        await until(pilot, lambda: idle(screen) and screen.query_text == "whitak")
        await settle(app, pilot)
        assert drawn == []  # not redrawn
        assert names(screen) == ["Grace Whitaker"]
        assert "1 patient" in status(screen)

        await pilot.press("z")  # "whitakz": no rows: redrawn
        await until(pilot, lambda: idle(screen) and screen.query_text == "whitakz")
        await settle(app, pilot)
        assert drawn == ["whitakz"]
        assert names(screen) == []
        assert "No patients match" in status(screen)


def test_the_pace_sends_at_once_then_once_more_for_keys_typed_meanwhile(monkeypatch):
    """The rule on its own: a key searches at once when nothing is on its way; keys typed
    while a search is on its way mark it stale (its answer is dropped, one more search
    goes out); an answer that never came within the wait does not hold the typing up."""
    from meditrack_tui.screens.widgets import search_pace

    now = [100.0]
    monkeypatch.setattr(search_pace.time, "monotonic", lambda: now[0])
    pace = search_pace.SearchPace(answer_wait=2.0)
    assert pace.typed() and not pace.searching
    pace.sent()
    assert pace.searching
    assert not pace.typed() and not pace.typed()  # on its way: the keys only mark it stale
    assert not pace.answered()  # stale: search again instead of drawing it
    assert pace.searching
    pace.sent()
    assert pace.answered() and not pace.searching  # the current answer: shown
    pace.sent()
    now[0] += 2.5  # that answer never came
    assert pace.typed()
