"""The package's shape (issue #11): no module over 400 lines, no class over 150 lines, no
import circle among the package's own modules, and one way in to the middleware (#21).

Every import counts towards circles: at module level, under ``if TYPE_CHECKING:`` and inside
functions alike. A lazy or typing-only import hides a circle from the interpreter, not from
the reader: the two modules still depend on each other. Only the package root imports
:mod:`asgi_sessionsync.middleware`; every other part is handed what it needs.
"""

from __future__ import annotations

import ast
from collections.abc import Collection
from pathlib import Path

import asgi_sessionsync

PACKAGE_DIR = Path(asgi_sessionsync.__file__).resolve().parent
PACKAGE = "asgi_sessionsync"
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 150

MIDDLEWARE = "asgi_sessionsync.middleware"
# The modules that may import the middleware: the package root, which exports it. (The
# command line and ``__main__`` need not; they never build one.)
MAY_IMPORT_THE_MIDDLEWARE = frozenset({PACKAGE})

# Imports (importer, imported) allowed to close a circle or reach into the middleware:
# none since the request path takes a RequestContext (issue #21). Never add to it.
ALLOWED_IMPORTS: frozenset[tuple[str, str]] = frozenset()

# Modules or classes allowed to exceed the limits, each with the reason. Keep it short, and
# take an entry out once its class is split.
ALLOWED_LONG: dict[str, str] = {
    # Its ~45 field declarations (each with its variable, parser and doc) read best together;
    # parsing, network reading, whole-settings checks and ``describe`` live in other modules.
    "asgi_sessionsync.settings.model.Settings": "field declarations kept together",
}


def _modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([PACKAGE, *parts])] = path
    return found


def _imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, wherever it is: top level, ``try`` and ``if``
    blocks (``if TYPE_CHECKING:`` too), functions and classes."""
    return [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]


def _imported_modules(name: str, path: Path, modules: Collection[str]) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in it."""
    return _imports_in(name, path.read_text(encoding="utf-8"), modules, is_package=path.name == "__init__.py")


def _imports_in(name: str, source: str, modules: Collection[str], *, is_package: bool = False) -> set[str]:
    tree = ast.parse(source)
    targets: set[str] = set()
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            if node.level:
                base_parts = name.split(".")
                if not is_package:
                    base_parts = base_parts[:-1]
                if node.level > 1:
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # ``from package import submodule`` imports the submodule; ``from module import
            # name`` imports the module.
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for candidate in candidates:
            if candidate in modules:
                targets.add(candidate)
    targets.discard(name)
    return targets


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_module_is_too_long() -> None:
    too_long = []
    for name, path in _modules().items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES and name not in ALLOWED_LONG:
            too_long.append(f"{name}: {lines} lines")
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def test_no_class_is_too_long() -> None:
    too_long = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno is not None
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                lines = node.end_lineno - start + 1
                qualified = f"{name}.{node.name}"
                if lines > MAX_CLASS_LINES and qualified not in ALLOWED_LONG:
                    too_long.append(f"{qualified}: {lines} lines")
    assert not too_long, f"classes over {MAX_CLASS_LINES} lines: {too_long}"


def _graph() -> dict[str, set[str]]:
    """Which of the package's modules each one imports (anywhere in it)."""
    modules = _modules()
    return {name: _imported_modules(name, path, modules) for name, path in modules.items()}


def test_no_import_circle() -> None:
    graph = _graph()
    for importer, imported in ALLOWED_IMPORTS:
        graph[importer].discard(imported)
    circles = _cycles(graph)
    assert not circles, f"import circles among the package's modules: {circles}"


def test_only_the_package_root_imports_the_middleware() -> None:
    importers = sorted(
        name
        for name, imported in _graph().items()
        if MIDDLEWARE in imported
        and name not in MAY_IMPORT_THE_MIDDLEWARE
        and (name, MIDDLEWARE) not in ALLOWED_IMPORTS
    )
    assert not importers, f"modules importing {MIDDLEWARE} (take what it hands you instead): {importers}"


def test_the_import_allow_list_is_current() -> None:
    # Once an import is gone, its entry goes too: the list only ever shrinks.
    graph = _graph()
    stale = sorted(pair for pair in ALLOWED_IMPORTS if pair[1] not in graph.get(pair[0], set()))
    assert not stale, f"import allow-list entries no longer needed: {stale}"


def test_the_scan_counts_typing_only_and_lazy_imports() -> None:
    modules = {"pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"}
    source = """
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from pkg.a import Thing
def later() -> None:
    from pkg import b
class Holder:
    def method(self) -> None:
        import pkg.c
try:
    from . import d
except ImportError:
    pass
"""
    assert _imports_in("pkg.x", source, modules) == {"pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"}


def test_the_allow_list_is_current() -> None:
    # An entry for a module or class that is no longer too long (or no longer exists) goes.
    long: set[str] = set()
    for name, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            long.add(name)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno is not None
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if node.end_lineno - start + 1 > MAX_CLASS_LINES:
                    long.add(f"{name}.{node.name}")
    stale = sorted(set(ALLOWED_LONG) - long)
    assert not stale, f"allow-list entries no longer needed: {stale}"


def test_the_scan_sees_the_package() -> None:
    # A guard against the scan silently finding nothing (a moved package, a wrong path).
    modules = _modules()
    assert "asgi_sessionsync.middleware" in modules
    assert len(modules) > 20


def test_the_circle_finder_finds_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_every_package_goes_into_the_wheel() -> None:
    # Split modules become packages: pyproject's package discovery (setuptools' find, which
    # takes every folder with an ``__init__.py`` whose dotted name an include pattern
    # matches) must take each one.
    import fnmatch
    import tomllib

    root = PACKAGE_DIR.parent
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    include: list[str] = config["tool"]["setuptools"]["packages"]["find"]["include"]
    on_disk = {
        ".".join(init.parent.relative_to(root).parts)
        for init in PACKAGE_DIR.rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    left_out = sorted(p for p in on_disk if not any(fnmatch.fnmatchcase(p, pattern) for pattern in include))
    assert not left_out, f"packages left out of the wheel: {left_out}"
    assert {"asgi_sessionsync.peers", "asgi_sessionsync.stores.sqlite", "asgi_sessionsync.testing"} <= on_disk


def test_every_identity_name_the_settings_take_has_an_adapter() -> None:
    from asgi_sessionsync.identity.registry import IDENTITIES
    from asgi_sessionsync.settings.values import IDENTITY_NAMES

    assert tuple(IDENTITIES) == IDENTITY_NAMES
