"""The layering rules, checked on the source: no Textual in the core (the UI, app included,
is screens/, installed as meditrack_tui.screens), no database driver in the screens, and a
CLI start-up that imports neither."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import meditrack_tui

CORE = Path(meditrack_tui.__file__).parent
SCREENS = CORE.parent / "screens"
DB_MODULES = {"pymongo", "bson", "gridfs", "litemongo", "mongomock", "motor", "sqlite3"}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module a file imports (anywhere, lazily or not)."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__" \
                and node.args and isinstance(node.args[0], ast.Constant):
            names.add(str(node.args[0].value).split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module" \
                and node.args and isinstance(node.args[0], ast.Constant):
            names.add(str(node.args[0].value).split(".")[0])
    return names


def core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def screen_files() -> list[Path]:
    return sorted(SCREENS.rglob("*.py"))


def test_the_checker_sees_imports():
    """Guard the guard: the AST walk finds plain, from- and function-level imports."""
    assert "pymongo" in imported_modules(CORE / "store" / "mongo" / "store.py")
    assert "sqlite3" in imported_modules(CORE / "store" / "sqlite" / "engine.py")
    assert "textual" in imported_modules(SCREENS / "app.py")
    assert "meditrack_tui.screens.app" in resolved_imports(CORE / "cli.py")
    assert len(core_files()) > 15 and len(screen_files()) > 3


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_never_imports_textual(path):
    found = imported_modules(path) & {"textual", "textual_plotext", "textual_fspicker",
                                      "textual_serve", "screens"}
    assert not found, f"{path.relative_to(CORE)} imports {sorted(found)}"


@pytest.mark.parametrize("path", screen_files(), ids=lambda p: str(p.relative_to(SCREENS)))
def test_screens_never_import_the_database(path):
    found = imported_modules(path) & DB_MODULES
    assert not found, f"screens/{path.relative_to(SCREENS)} imports {sorted(found)}"


def outside_the_stores() -> list[Path]:
    """Every core file but the store implementations (store/sqlite, store/mongo)."""
    stores = (CORE / "store" / "sqlite", CORE / "store" / "mongo")
    return [p for p in core_files() if not any(s in p.parents for s in stores)]


@pytest.mark.parametrize("path", outside_the_stores(), ids=lambda p: str(p.relative_to(CORE)))
def test_only_the_store_implementations_import_a_driver(path):
    """Services, the feed, the seed and the CLI speak the repository interfaces only."""
    found = imported_modules(path) & DB_MODULES
    assert not found, f"{path.relative_to(CORE)} imports {sorted(found)}"


def test_no_trace_of_the_old_embedded_store():
    text = "\n".join(p.read_text("utf-8") for p in core_files() + screen_files())
    for name in ("litemongo", "mongomock", "compact_index", "ProcessLock"):
        assert name not in text, name


def resolved_imports(path: Path) -> set[str]:
    """Full dotted names a core file imports, with relative imports resolved."""
    package = ".".join(path.relative_to(CORE.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(CORE)))
def test_the_core_never_imports_the_ui(path):
    """Only the command line starts the UI (lazily, once it is asked to run the app)."""
    if path == CORE / "cli.py":
        return
    bad = {n for n in resolved_imports(path)
           if n.startswith(("meditrack_tui.screens", "screens"))}
    assert not bad, f"{path.relative_to(CORE)} imports {sorted(bad)}"


def test_services_know_the_policy():
    assert "meditrack_tui.policy" in resolved_imports(CORE / "services" / "base.py")


PROBE = """
import json, sys
import meditrack_tui.cli
{extra}
heavy = ("pymongo", "bson", "gridfs", "sqlite3", "textual", "plotext", "argon2", "jwt")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def _loaded_after(extra: str = "") -> list[str]:
    result = subprocess.run([sys.executable, "-c", PROBE.format(extra=extra)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_importing_the_cli_stays_light():
    assert _loaded_after() == []


def test_building_the_parser_stays_light():
    loaded = _loaded_after("meditrack_tui.cli.build_parser().format_help()")
    assert loaded == []


def test_screens_use_only_the_services_public_calls():
    """What the audit records cannot be bypassed from the UI: screens call services only
    through their public methods (no ``s.<service>._...``, no ``ctx``, no store)."""
    import re

    private = re.compile(r"\bs\.(?:\w+\.)?(?:_\w+|ctx|store)\b")
    offenders = []
    for path in (Path(__file__).resolve().parents[1] / "screens").glob("*.py"):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if private.search(line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []


# --- the UI: one screen per module, no screen imports another ------------------------------

SHARED = {"base", "context", "messages", "keys"}


def ui_module(path: Path) -> str:
    """``meditrack_tui.screens.<...>`` for a file under screens/."""
    return ".".join(("meditrack_tui", "screens",
                     *path.relative_to(SCREENS).with_suffix("").parts)).removesuffix(".__init__")


def ui_imports(path: Path) -> set[str]:
    """The UI modules a UI file imports (relative imports resolved), anywhere in it."""
    package = ui_module(path) if path.name == "__init__.py" else ui_module(path).rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.startswith("meditrack_tui.screens"):
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
    known = {ui_module(p) for p in screen_files()}
    return {name for name in found if name in known}


def screen_modules() -> list[Path]:
    """The modules directly in screens/ that hold screens (not the App, not shared parts)."""
    return [p for p in SCREENS.glob("*.py")
            if p.stem not in SHARED | {"__init__", "app", "feed"}]


@pytest.mark.parametrize("path", screen_files(), ids=lambda p: str(p.relative_to(SCREENS)))
def test_no_screen_imports_another_screen(path):
    """Screens open one another by message through the App; forms and widgets are shared
    by screens and never import one."""
    if path.name in ("app.py",):
        return
    screens = {ui_module(p) for p in screen_modules()}
    bad = ui_imports(path) & (screens - {ui_module(path)})
    assert not bad, f"screens/{path.relative_to(SCREENS)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", screen_files() + core_files(),
                         ids=lambda p: str(p.relative_to(CORE.parent)))
def test_no_module_is_over_400_lines(path):
    """Modules a reader can hold in their head: one screen, one service, one repository."""
    lines = len(path.read_text("utf-8").splitlines())
    assert lines <= 400, f"{path.relative_to(CORE.parent)} has {lines} lines"


def test_the_ui_checker_sees_imports():
    """Guard the guard: relative imports of screens and of forms are resolved."""
    app = ui_imports(SCREENS / "app.py")
    assert "meditrack_tui.screens.keys" in app
    assert any(name.startswith("meditrack_tui.screens.login") for name in app)


def test_starting_the_app_builds_no_subcommand_parser():
    """``meditrack`` with options only parses without the subcommands' parsers, whose
    modules (deploy, FHIR) the start-up does not need."""
    probe = ("import sys, meditrack_tui.cli as c; "
             "a = c.build_parser(commands=not c.only_starts_the_app(['--data-dir', 'd']))"
             ".parse_args(['--data-dir', 'd']); "
             "print(sorted(m for m in sys.modules if m.startswith("
             "('meditrack_tui.deploy', 'meditrack_tui.fhir'))), a.command)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.split() == ["[]", "None"], result.stderr
