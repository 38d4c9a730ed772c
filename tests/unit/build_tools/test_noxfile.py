"""`nox -l` shows every session's description whole, and the README's tool commands run as written.

nox lists the first line of a session's docstring only: a sentence that runs on to a second line
is shown cut. Read from the noxfile's syntax tree, so this needs neither nox nor an engine.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ner_build import dev

ROOT = Path(__file__).resolve().parents[3]
NOXFILE = ROOT / "noxfile.py"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def is_session(function: ast.FunctionDef) -> bool:
    def name(node: ast.expr) -> str:
        target = node.func if isinstance(node, ast.Call) else node
        return ast.unparse(target)

    return any(name(decorator) == "nox.session" for decorator in function.decorator_list)


def cut_descriptions(source: str) -> dict[str, str]:
    """Each session whose docstring's first paragraph is longer than its first line, or missing."""
    cut = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and is_session(node):
            doc = ast.get_docstring(node) or ""
            first_paragraph = doc.split("\n\n")[0]
            if not doc or "\n" in first_paragraph:
                cut[node.name] = first_paragraph
    return cut


def test_every_session_has_a_one_line_description() -> None:
    assert cut_descriptions(NOXFILE.read_text()) == {}


def test_the_check_catches_a_description_that_runs_on() -> None:
    """The control: the form ten sessions had, which `nox -l` showed cut."""
    source = (
        "import nox\n\n@nox.session\ndef lint(session):\n"
        '    """ruff, mypy, hadolint and\n    deploy/kubernetes (offline)."""\n'
    )
    assert cut_descriptions(source) == {
        "lint": "ruff, mypy, hadolint and\ndeploy/kubernetes (offline)."
    }
    whole = source.replace("and\n    deploy", "and deploy")
    assert cut_descriptions(whole) == {}


def test_the_docs_give_tool_commands_that_run_from_the_checkout() -> None:
    """`python -m ner_build.X` needs PYTHONPATH=tools and the locked tools; `nox -s tool -- X`
    gives both."""
    bare = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in DOCS
        for match in re.finditer(r"python3? -m ner_build\.\w+", path.read_text())
    ]
    assert bare == []


def test_every_unit_test_marked_host_is_where_nox_s_integration_runs_them() -> None:
    """`nox -s tests` deselects them; a marked test elsewhere would run nowhere."""
    folder = re.search(r'^HOST_UNIT_TESTS = "(.+)"', NOXFILE.read_text(), re.M)
    assert folder, "the noxfile names no HOST_UNIT_TESTS"
    marked = {
        path.relative_to(ROOT)
        for path in (ROOT / "tests").rglob("test_*.py")
        if "@pytest.mark.host" in path.read_text()
    }
    assert marked, "no unit test is marked host"
    assert {path for path in marked if not path.is_relative_to(folder.group(1))} == set()


def test_the_quick_sessions_are_the_ones_script_test_runs_without_provisioning() -> None:
    tagged = {
        node.name
        for node in ast.parse(NOXFILE.read_text()).body
        if isinstance(node, ast.FunctionDef)
        and any("tags=['quick']" in ast.unparse(d) for d in node.decorator_list)
    }
    assert tagged == dev.QUICK
