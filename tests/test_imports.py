"""The streams package imports in one direction: no module imports itself back.

The graph is built from the source with `ast`, without importing anything, so
the test is fast and sees imports inside functions too (a lazy import that
closes a loop is still a loop: it only moves the failure to run time). An edge
A -> B means A's source has `import B`, `from B import ...`, or a relative
`from . import B` / `from .B import ...` anywhere in it, except under
`if TYPE_CHECKING:`.

A cycle that somebody is already taking apart elsewhere goes into
ALLOWED_CYCLES with the reason; any other cycle fails the test, named module
by module.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "streams"

# Sets of modules known to import each other (strongly connected components of
# the graph), each with the reason it is tolerated for now, e.g.
#     frozenset({"streams.a", "streams.b"}): "a and b are being split (see ...)",
# The test fails for any other cycle, when a listed set grows (a new module
# joins the loop), and when a listed set is gone, so the entry leaves with it.
# Empty: no streams module imports itself back today.
ALLOWED_CYCLES: dict[frozenset[str], str] = {}

# Lower layers that the command line uses and that must not import it back.
NOT_IMPORTING_CLI = ("streams.kafka_io", "streams.ingest", "streams.tools")

# Commands for developers and operators (bench, training, evaluation): they
# import the cores and the runtime, never the other way round.
TOOLS = "streams.tools"

# Kafka-free cores: importing them loads neither Faust nor the tools.
PURE_CORES = ("streams.topology", "streams.pipeline", "streams.text", "streams.entities.extract",
              "streams.routing.rules", "streams.routing.rules_file", "streams.routing.watcher",
              "streams.routing.matching", "streams.trending.windows", "streams.trending.progress",
              "streams.trending.not_trending", "streams.ingest.sources")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node, skipping `if TYPE_CHECKING:` bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(known: set[str], name: str) -> str | None:
    """The longest known module that `name` is, or is inside of (`a.b.func` -> `a.b`)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    modules = source_modules()
    known = set(modules)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                # `from pkg import mod` imports pkg and, if it is one, the submodule mod
                targets = [stem] + [f"{stem}.{alias.name}" for alias in node.names if alias.name != "*"]
            for target in targets:
                if not target.startswith("streams"):
                    continue
                resolved = _resolve(known, target)
                if resolved is not None and resolved != name:
                    graph[name].add(resolved)
    return graph


@lru_cache(maxsize=1)
def package_graph() -> dict[str, frozenset[str]]:
    """The graph of the streams package, parsed once for all the tests here."""
    return {name: frozenset(targets) for name, targets in import_graph().items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the sets of modules that reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def a_cycle(graph: dict[str, set[str]], members: list[str]) -> list[str]:
    """One concrete loop through a strongly connected set, to print: a -> b -> ... -> a."""
    inside = set(members)
    start = members[0]
    # breadth-first from start's successors back to start, within the set
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & inside):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return members


def describe(graph: dict[str, set[str]], members: list[str]) -> str:
    return f"{len(members)} modules: {', '.join(members)}\n    e.g. {' -> '.join(a_cycle(graph, members))}"


def test_no_new_import_cycles():
    graph = package_graph()
    components = strongly_connected(graph)
    new = [members for members in components if frozenset(members) not in ALLOWED_CYCLES]
    assert not new, "import cycles among streams modules:\n" + "\n".join(
        f"  {describe(graph, members)}" for members in new)


def test_allowed_cycles_still_exist():
    """An entry of ALLOWED_CYCLES whose cycle was broken is removed, so it cannot hide a new one."""
    components = {frozenset(members) for members in strongly_connected(package_graph())}
    gone = [sorted(cycle) for cycle in ALLOWED_CYCLES if cycle not in components]
    assert not gone, f"these allowed cycles are gone (or changed): remove them from ALLOWED_CYCLES: {gone}"


def test_lower_layers_do_not_import_the_command_line():
    graph = package_graph()
    offenders = {
        name: sorted(target for target in targets if target == "streams.cli" or target.startswith("streams.cli."))
        for name, targets in graph.items()
        if any(name == layer or name.startswith(layer + ".") for layer in NOT_IMPORTING_CLI)
    }
    offenders = {name: targets for name, targets in offenders.items() if targets}
    assert not offenders, f"lower layers import the command line: {offenders}"


def test_only_the_command_line_and_the_tools_import_the_tools():
    """Nothing below the CLI, not even lazily inside a function, reaches into streams.tools."""
    graph = package_graph()
    offenders = {
        name: sorted(target for target in targets if target == TOOLS or target.startswith(TOOLS + "."))
        for name, targets in graph.items()
        if not (name == TOOLS or name.startswith(TOOLS + ".") or name == "streams.cli" or name.startswith("streams.cli."))
    }
    offenders = {name: targets for name, targets in offenders.items() if targets}
    assert not offenders, f"modules outside the CLI import the tools: {offenders}"


def test_the_graph_sees_relative_lazy_and_package_imports(tmp_path, monkeypatch):
    """The parser itself: relative levels, imports inside functions, `from pkg import module`."""
    package = tmp_path / "streams"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from .sub import b\n")
    (package / "sub" / "__init__.py").write_text("from . import b\n")
    (package / "sub" / "b.py").write_text("from ..a import f\nfrom typing import TYPE_CHECKING\n"
                                         "if TYPE_CHECKING:\n    from streams.sub.c import X\n")
    (package / "sub" / "c.py").write_text("import streams.a\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "PACKAGE", package)
    graph = import_graph()
    assert graph["streams.a"] == {"streams.sub", "streams.sub.b"}
    assert graph["streams.sub"] == {"streams.sub.b"}
    assert graph["streams.sub.b"] == {"streams.a"}  # the TYPE_CHECKING import is not an edge
    assert graph["streams.sub.c"] == {"streams.a"}
    assert strongly_connected(graph) == [["streams.a", "streams.sub", "streams.sub.b"]]
    assert a_cycle(graph, ["streams.a", "streams.sub", "streams.sub.b"]) == ["streams.a", "streams.sub.b", "streams.a"]


def test_a_worker_imports_no_tooling_and_the_pure_cores_no_faust():
    """Bench, training, evaluation and the CLI stay out of a worker; the cores know nothing of Faust."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys\n"
        f"import {', '.join(PURE_CORES)}\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('faust', 'mode')], 'a pure core imported Faust'\n"
        "tooling = ('streams.tools', 'streams.cli')\n"
        "assert not [m for m in sys.modules if m.startswith(tooling)], 'a pure core imported tooling'\n"
        "from streams.runtime import build_app\n"
        "from streams.settings import Settings\n"
        "build_app(Settings())\n"
        "print(sorted(m for m in sys.modules if m.startswith(tooling)))\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_only_the_runtime_and_its_corrections_import_faust():
    """The runtime wing is the one place Faust is used; the CLI reaches it only to start a worker."""
    allowed = ("streams.runtime", "streams.fixes", "streams.tools.bench_noop")
    users = []
    for name, path in source_modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _imports(tree):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(n == "faust" or n.startswith("faust.") for n in names) and not name.startswith(allowed):
                users.append(name)
    assert not users, f"modules outside the runtime import Faust: {sorted(set(users))}"


def test_importing_the_runtime_has_no_effect():
    """No app, no corrections, no settings read until `build_app(settings)` is called."""
    import subprocess
    import sys

    script = (
        "import os, gc\n"
        "os.environ['NEWSSTREAMS_PARTITIONS'] = 'not a number'\n"  # reading settings now would fail
        "import faust\n"
        "import streams.runtime, streams.runtime.movers, streams.runtime.web.views\n"
        "from streams.fixes import FIXES\n"
        "assert not [f.name for f in FIXES if f.applied()], 'a correction was applied on import'\n"
        "assert not [o for o in gc.get_objects() if isinstance(o, faust.App)], 'an app was made on import'\n"
        "from streams.runtime import build_app\n"
        "from streams.settings import Settings\n"
        "runtime = build_app(Settings(embedded_broker=True))\n"
        "assert all(f.applied() for f in FIXES)\n"
        "print(sorted(agent.name for agent in runtime.app.agents.values()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['aggregate', 'enrich', 'parse', 'route']"
