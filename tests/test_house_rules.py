"""House rules for imports (docs/CONTRACTS.md), checked by walking the source of core/ and apps/.

Every import counts: top-level, inside functions and under ``TYPE_CHECKING`` (each is knowledge
of the other module). A failure names the importing module, the line and the imported module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from apps.registry import APP_NAMES

ROOT = Path(__file__).resolve().parents[1]
SURFACES = ("router", "page", "cli")
# What a router, page or CLI of app A may import besides A's service and schemas.
SHARED_SURFACE_HELPERS = frozenset({
    "apps.context", "apps.settings", "apps.registry", "apps.progress", "apps.api.deps",
    "apps.validation",  # request types every router shares (UTC instants, durations)
    "core.errors",  # routers map the service's errors to HTTP codes, CLIs to exit codes
})

# Tolerated violations while a change is in flight: (importer, imported) → why. Empty: every
# module follows the rules. The tests fail on any import not listed here, and on a listed import
# that is gone. A listed import inside a cycle is left out of the cycle search, so a cycle is
# listed by its edge that points up (domain → service, pipeline → service).
ALLOWED: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    files = [p for top in ("core", "apps") for p in (ROOT / top).rglob("*.py")
             if "__pycache__" not in p.parts]  # fmt: skip
    return {_module_name(p): p for p in sorted(files)}


MODULES = _modules()


def _resolve(importer: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports_of(name: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every import of a core/apps module in module ``name``."""
    path = MODULES[name]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, path, node)
            # `from pkg import mod` imports the module pkg.mod; `from mod import func` imports mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                       for a in node.names]  # fmt: skip
        else:
            continue
        for target in targets:
            if target.split(".")[0] in ("core", "apps"):
                yield node.lineno, target


def _app_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "apps" and len(parts) > 1 and parts[1] in APP_NAMES else None


def violations() -> list[tuple[str, str, str]]:
    """(rule, importer:line, imported) for every broken rule except the cycle rule."""
    found: list[tuple[str, str, str]] = []
    for name in MODULES:
        app = _app_of(name)
        is_surface = app is not None and name.split(".")[-1] in SURFACES
        for line, target in imports_of(name):
            where = f"{name}:{line}"
            if name.startswith("core") and target.startswith("apps"):
                found.append(("core imports apps", where, target))
            elif app and _app_of(target) not in (None, app):
                found.append(("an app imports another app", where, target))
            elif is_surface and target not in SHARED_SURFACE_HELPERS and target not in (
                    f"apps.{app}.service", f"apps.{app}.schemas"):
                found.append((f"{name.split('.')[-1]} imports beyond service/schemas", where, target))
    return list(dict.fromkeys(found))


def import_cycles(skip: frozenset[tuple[str, str]] = frozenset()) -> list[list[str]]:
    """Strongly connected groups of modules (Tarjan), each given as one cycle through it."""
    graph = {n: sorted({t for _, t in imports_of(n)
                        if t in MODULES and t != n and (n, t) not in skip}) for n in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            group.append(v)
            if len(group) > 1:
                groups.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return [_one_cycle(graph, set(g)) for g in groups]


def _one_cycle(graph: dict[str, list[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in graph[v]:
                if w == start:
                    return [*paths[v], start]
                if w in group and w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    return sorted(group)


def test_imports_follow_the_house_rules() -> None:
    broken = [v for v in violations() if (v[1].split(":")[0], v[2]) not in ALLOWED]
    assert not broken, "house rules broken:\n" + "\n".join(
        f"  {rule}: {where} imports {target}" for rule, where, target in broken)


def test_no_import_cycles() -> None:
    cycles = import_cycles(skip=frozenset(ALLOWED))
    assert not cycles, "import cycles (imports point one way: surface → service → pipeline → " \
        "domain → core):\n" + "\n".join("  " + " → ".join(c) for c in cycles)


def test_allow_list_has_no_stale_entries() -> None:
    edges = {(name, t) for name in MODULES for _, t in imports_of(name)}
    stale = sorted(set(ALLOWED) - edges)
    assert not stale, f"allow-list entries whose import is gone (delete them): {stale}"


def test_the_checker_sees_a_violation_and_a_cycle(tmp_path: Path, monkeypatch) -> None:
    """The walk itself works: a planted cross-app import and a two-module cycle are reported."""
    import sys

    mod = sys.modules[__name__]
    fake = {
        "core.fake": tmp_path / "core_fake.py",
        "apps.maintenance.router": tmp_path / "router.py",
        "apps.cooling.a": tmp_path / "a.py",
        "apps.cooling.b": tmp_path / "b.py",
    }
    fake["core.fake"].write_text("from apps.context import AppContext\n")
    fake["apps.maintenance.router"].write_text("def f():\n    from apps.cooling import a\n")
    fake["apps.cooling.a"].write_text("from apps.cooling.b import x\n")
    fake["apps.cooling.b"].write_text("from . import a\n")
    monkeypatch.setattr(mod, "MODULES", {**fake, "apps.context": ROOT / "apps" / "context.py"})
    found = {(rule, where, target) for rule, where, target in violations()}
    assert ("core imports apps", "core.fake:1", "apps.context") in found
    assert ("an app imports another app", "apps.maintenance.router:2", "apps.cooling.a") in found
    assert import_cycles() == [["apps.cooling.a", "apps.cooling.b", "apps.cooling.a"]]
