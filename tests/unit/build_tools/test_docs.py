"""The README and docs/ name what exists: every `nox -s SESSION` is a session of the noxfile,
every `nox -s tool -- NAME` a command ner_build.commands finds, every tools/ner_build path and
ner_build.X module a file, and every relative link a file; the measured tables live in
benchmarks/README.md between their markers, once each."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ner_build import commands
from ner_build.bench import headline
from ner_build.bench.platformbench import MARKERS as PLATFORM_MARKERS
from ner_build.bench.stats import README_END, README_START
from ner_build.deploy.scale_report import MARKERS as SCALE_MARKERS
from ner_build.paths import BENCHMARKS_README

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "tools" / "ner_build"
DOCS = [ROOT / "README.md", BENCHMARKS_README, *sorted((ROOT / "docs").rglob("*.md"))]


def sessions(noxfile: Path = ROOT / "noxfile.py") -> set[str]:
    names = set()
    for node in ast.parse(noxfile.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                text = ast.unparse(decorator)
                if text.startswith("nox.session"):
                    found = re.search(r"name=['\"]([\w-]+)['\"]", text)
                    names.add(found.group(1) if found else node.name.replace("_", "-"))
    return names


def unknown_names(text: str, known_sessions: set[str], known_tools: set[str]) -> list[str]:
    problems = []
    for match in re.finditer(r"nox -s ([\w-]+)(?: -- ([\w-]+))?", text):
        session, argument = match.groups()
        if session not in known_sessions:
            problems.append(f"no session {session}")
        elif (
            session == "tool"
            and argument
            and not argument.isupper()
            and argument not in known_tools
        ):
            problems.append(f"no command {argument}")
    return problems


def missing_paths(text: str, root: Path) -> list[str]:
    problems = []
    for match in re.finditer(r"tools/ner_build/[\w/]+\.py", text):
        if not (root / match.group(0)).is_file():
            problems.append(match.group(0))
    for match in re.finditer(r"\bner_build((?:\.\w+)+)", text):
        if not is_module(match.group(1).strip(".").split("."), root / "tools" / "ner_build"):
            problems.append(match.group(0))
    return problems


def is_module(parts: list[str], package: Path) -> bool:
    """ner_build.WING.MODULE(.NAME...) names a package and a module in it (what follows a
    module is a name inside it: ner_build.image.normalize.iso)."""
    folder = package
    for part in parts:
        if (folder / f"{part}.py").is_file():
            return True
        if not (folder / part / "__init__.py").is_file():
            return False
        folder = folder / part
    return True


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
        if "://" not in target and not (path.parent / target).exists():
            problems.append(f"{path.relative_to(ROOT)}: {target}")
    return problems


def test_the_docs_name_sessions_and_commands_that_exist() -> None:
    known, tools = sessions(), set(commands.find())
    assert {str(p.relative_to(ROOT)): unknown_names(p.read_text(), known, tools) for p in DOCS} == {
        str(p.relative_to(ROOT)): [] for p in DOCS
    }


def test_the_docs_name_modules_and_files_that_exist() -> None:
    problems = {str(p.relative_to(ROOT)): missing_paths(p.read_text(), ROOT) for p in DOCS}
    assert problems == {str(p.relative_to(ROOT)): [] for p in DOCS}


def test_relative_links_reach_a_file() -> None:
    assert [problem for path in DOCS for problem in broken_links(path)] == []


def test_the_checks_catch_what_does_not_exist() -> None:
    """The controls: a session, a command, a module and a path that are not there."""
    text = "nox -s lnt, nox -s tool -- inventry, ner_build.image.normalise, tools/ner_build/x.py"
    assert unknown_names(text, sessions(), set(commands.find())) == [
        "no session lnt",
        "no command inventry",
    ]
    assert missing_paths(text, ROOT) == ["tools/ner_build/x.py", "ner_build.image.normalise"]
    assert missing_paths("ner_build.image.normalize.iso", ROOT) == []


def test_each_measured_table_is_in_benchmarks_readme_once_and_not_in_the_readme() -> None:
    text, readme = BENCHMARKS_README.read_text(), (ROOT / "README.md").read_text()
    for start, end in ((README_START, README_END), PLATFORM_MARKERS, SCALE_MARKERS):
        assert (text.count(start), text.count(end)) == (1, 1), start
        assert start not in readme


def unmapped(table: str, package: Path) -> list[str]:
    """The modules of the package the code map does not name (as `module`)."""
    named = set(re.findall(r"`(\w+)`", table))
    return sorted(
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if not path.name.startswith("__") and path.stem not in named
    )


def test_the_code_map_names_every_module() -> None:
    text = (ROOT / "docs" / "development.md").read_text()
    assert unmapped(text, PACKAGE) == []
    assert unmapped(text.replace("`bundle_files`", ""), PACKAGE) == ["release/bundle_files.py"]


def test_the_readme_holds_the_benchs_figures_block_once() -> None:
    readme = (ROOT / "README.md").read_text()
    for marker in headline.MARKERS:
        assert readme.count(marker) == 1, marker
