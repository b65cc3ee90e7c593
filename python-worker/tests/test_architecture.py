"""The SDK's shape, checked: no import cycles, no private names across modules, small files.

Imports inside functions and under ``if TYPE_CHECKING:`` count too: a cycle hidden in a
function is still a cycle. Importing a module does not count as importing its parent
package's ``__init__`` (which re-exports for users), as import-linter does it.
"""

import ast
from pathlib import Path

import notebridge_worker

PACKAGE = Path(notebridge_worker.__file__).parent
ROOT = "notebridge_worker"
MAX_LINES = 450
LONGER = {
    # The public class: its docstrings are the API reference researchers read.
    "worker.py": 700,
    # One compiler, a keyword at a time, that mirrors gateway/contracts/fastpath.go.
    "contracts/fastcheck.py": 600,
    # One delivery of a job, its steps in order (jobs/__init__.py lists them).
    "jobs/puller.py": 500,
}


def module_name(path: Path) -> str:
    parts = [ROOT, *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, node: ast.AST) -> set[str]:
    """The SDK's modules that ``node`` (an import in module ``name``) imports."""
    found: set[str] = set()
    if isinstance(node, ast.Import):
        found = {alias.name for alias in node.names}
    elif isinstance(node, ast.ImportFrom) and node.module is not None:
        base = node.module
        if node.level:
            package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}"
        for alias in node.names:
            # `from package import module` imports the module; else the names are base's.
            found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {module for module in found if module in MODULES}


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        edges[name] = set().union(*(imported(name, node) for node in ast.walk(tree))) - {name}
    return edges


def test_the_sdk_has_no_import_cycle() -> None:
    edges = graph()
    # Tarjan's strongly connected components: any with more than one module is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in edges[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in edges:
        if module not in index:
            visit(module)
    assert cycles == [], f"import cycles: {cycles}"


def test_no_module_reaches_into_another_modules_private_names() -> None:
    reaches = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                private = [
                    alias.name
                    for alias in node.names
                    if alias.name.startswith("_")
                    and not alias.name.startswith("__")
                    and f"{node.module}.{alias.name}" not in MODULES
                ]
                reaches += [f"{name} imports {node.module}.{item}" for item in private]
            elif (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                reaches.append(f"{name}:{node.lineno} reads {ast.unparse(node)}")
    assert reaches == [], "\n".join(reaches)


def test_no_file_is_longer_than_it_needs_to_be() -> None:
    long = {}
    for path in MODULES.values():
        relative = path.relative_to(PACKAGE).as_posix()
        lines = len(path.read_text().splitlines())
        if lines > LONGER.get(relative, MAX_LINES):
            long[relative] = lines
    assert long == {}, f"split these, or give the reason in LONGER: {long}"


def test_the_checks_above_can_fail() -> None:
    # A cycle hidden in a function, and a private name read across modules, are found.
    tree = ast.parse("def f():\n    from notebridge_worker.worker import _x\n")
    found = set().union(*(imported("notebridge_worker.jobs.puller", n) for n in ast.walk(tree)))
    assert found == {"notebridge_worker.worker"}
    edges = graph()
    assert "notebridge_worker.worker" in edges["notebridge_worker.testing.client"]
