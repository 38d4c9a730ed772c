"""Every tool module runs as `python -m ner_build.X` with all of its functions defined."""

from __future__ import annotations

import ast
from pathlib import Path

import ner_build
from ner_build.commands import is_main_guard

TOOLS = Path(ner_build.__file__).parent


def misplaced_guards(source: str) -> bool:
    """True when an `if __name__ == "__main__":` block is followed by more definitions: run as
    a script, main() would run before they exist (NameError)."""
    body = ast.parse(source).body
    return any(is_main_guard(node) for node in body[:-1])


def test_the_main_guard_is_the_last_statement_of_every_tool_module() -> None:
    misplaced = [
        path.relative_to(TOOLS).as_posix()
        for path in sorted(TOOLS.rglob("*.py"))
        if misplaced_guards(path.read_text())
    ]
    assert not misplaced, f"code after `if __name__ == '__main__'` in {misplaced}"


def test_the_check_catches_a_function_defined_after_the_guard() -> None:
    late = 'def main() -> int:\n    return 0\n\nif __name__ == "__main__":\n    main()\n\n'
    assert misplaced_guards(late + "def later() -> None:\n    pass\n")
    assert not misplaced_guards(late)
