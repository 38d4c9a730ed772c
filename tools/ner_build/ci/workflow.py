"""A GitHub Actions workflow as PyYAML reads it: its jobs, their steps, the nox sessions called."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ner_build.errors import CheckFailed
from ner_build.paths import ROOT

CI = ROOT / ".github" / "workflows" / "ci.yml"
SESSION_FLAGS = ("-s", "-e", "--session", "--sessions")
SHELL_OPERATORS = {"&&", "||", ";", "|", "&", "(", ")"}


def parse(text: str, name: str = "workflow") -> dict[str, Any]:
    """A workflow's mapping, its `on:` key under "on".

    PyYAML reads YAML 1.1, where a bare `on` is the boolean true: the key comes back as True.
    """
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise CheckFailed(f"{name} is not a YAML mapping: is it a GitHub Actions workflow?")
    if True in document:
        if "on" in document:
            raise CheckFailed(f"{name} has both `on` and a key read as true")
        document["on"] = document.pop(True)
    return document


def load(path: Path) -> dict[str, Any]:
    return parse(path.read_text(), path.name)


def jobs(document: dict[str, Any], name: str = "workflow") -> dict[str, dict[str, Any]]:
    found = document.get("jobs")
    if not isinstance(found, dict) or not found:
        raise CheckFailed(f"{name} has no `jobs:` mapping")
    return found


def step_label(step: dict[str, Any], index: int) -> str:
    """How a step is named in messages: its name, else what it uses or runs, and its number."""
    text = step.get("name") or step.get("uses") or str(step.get("run", "")).strip()
    first = str(text).splitlines()[0] if text else "?"
    return f"step {index + 1} ({first[:70]})"


def nox_sessions_called(script: str) -> Iterator[str]:
    """Session names given to nox with -s/-e/--session(s), up to `--` or the command's end."""
    for line in logical_lines(script):
        if "nox" not in line:
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        for start, word in enumerate(tokens):
            if word == "nox" or word.endswith("/nox"):
                yield from _session_arguments(tokens[start + 1 :])


def logical_lines(script: str) -> list[str]:
    """A script's lines with backslash continuations joined."""
    return script.replace("\\\n", " ").splitlines()


def _session_arguments(tokens: list[str]) -> Iterator[str]:
    taking = False
    for word in tokens:
        if word == "--" or word in SHELL_OPERATORS:
            return
        flag, _, inline = word.partition("=")
        if flag in SESSION_FLAGS:
            taking = True
            if inline:
                yield inline
        elif word.startswith("-"):
            taking = False
        elif taking:
            yield word
