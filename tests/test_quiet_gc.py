"""Full garbage collections wait for the user to be idle (meditrack_tui/quiet_gc.py)."""

from __future__ import annotations

import gc

from meditrack_tui.quiet_gc import QuietCollector


def make_garbage_generations(collector: QuietCollector) -> None:
    """Run younger collections until a full one is due."""
    for _ in range(collector.due + 1):
        cycle: list = []
        cycle.append(cycle)
        del cycle
        gc.collect(1)


def test_full_collections_wait_for_a_quiet_moment_and_thresholds_are_restored():
    before = gc.get_threshold()
    collector = QuietCollector(quiet=0.75, due=3, limit=500)
    collector.install()
    try:
        assert gc.get_threshold() == (before[0], before[1], 500)  # Python's own: rarely
        make_garbage_generations(collector)
        assert gc.get_count()[2] >= collector.due
        assert collector.tick(idle_for=0.1) is False  # the user is typing: not now
        assert gc.get_count()[2] >= collector.due
        assert collector.tick(idle_for=2.0) is True  # idle: collected
        assert gc.get_count()[2] == 0 and collector.collections == 1
        assert collector.tick(idle_for=5.0) is False  # nothing due any more
    finally:
        collector.uninstall()
    assert gc.get_threshold() == before
    assert collector.tick(idle_for=5.0) is False  # uninstalled: leaves Python alone


def test_the_app_installs_it_while_running(make_app):
    import asyncio

    app = make_app()
    before = gc.get_threshold()

    async def run() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert app.quiet_gc.installed
            assert gc.get_threshold()[2] == app.quiet_gc.limit

    asyncio.run(run())
    assert gc.get_threshold() == before
