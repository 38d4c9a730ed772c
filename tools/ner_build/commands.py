"""The package's commands: every module that runs as `python -m ner_build.…`, by its short name.

A command is a module whose last statement is `if __name__ == "__main__":`. Its short name is its
file's name, except a wing's `command.py`, which goes by the wing's name (`build`, `bench`);
`nox -s tool -- NAME ARGS` runs it. Standard library only: the noxfile imports this.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def is_main_guard(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


def has_main_guard(path: Path) -> bool:
    return any(is_main_guard(node) for node in ast.parse(path.read_text()).body)


def dotted(path: Path, package: Path = PACKAGE) -> str:
    """ner_build.WING.MODULE for a file of the package (ner_build.WING for a wing's command)."""
    parts = path.relative_to(package).with_suffix("").parts
    if parts[-1] == "command" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join((package.name, *parts))


def find(package: Path = PACKAGE) -> dict[str, str]:
    """Every command's short name, and the module `python -m` runs it as."""
    found: dict[str, str] = {}
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts or not has_main_guard(path):
            continue
        module = dotted(path, package)
        name = module.rsplit(".", 1)[-1]
        if name in found:
            raise ValueError(f"two commands are named {name}: {found[name]} and {module}")
        found[name] = module
    return found
