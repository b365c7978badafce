"""The packages depend one way: bot/ and actions/ build on caredesk/, never on each other, and
caredesk/ and engine/ import neither (docs/architecture.md)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "caredesk": {"bot", "actions", "engine", "launcher"},
    "actions": {"bot", "engine", "launcher"},
    "bot": {"actions", "engine"},
    "engine": {"bot", "actions", "caredesk", "launcher"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_each_package_imports_only_what_it_builds_on() -> None:
    crossings = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in sorted(imported_packages(path) & forbidden):
                crossings.append(f"{path.relative_to(ROOT)} imports {name}")
    assert crossings == []
