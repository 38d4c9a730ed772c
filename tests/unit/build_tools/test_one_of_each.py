"""One of each shared concept: the canonical JSON, the sha256 of a file and the free port are each
defined once in tools/ner_build, and do what their callers rely on; the docker-archive writer,
the `sha256:` digest form, starting a process and waiting with a deadline each live in one
module."""

from __future__ import annotations

import ast
import json
import socket
from pathlib import Path

import ner_build
from ner_build.digest import canonical_json
from ner_build.probe import free_port

TOOLS = Path(ner_build.__file__).parent
ONCE = ("canonical_json", "sha256_of", "free_port")


def definitions(folder: Path, names: tuple[str, ...]) -> dict[str, list[str]]:
    """Where each of the names is defined at a module's top level, under the folder."""
    found: dict[str, list[str]] = {name: [] for name in names}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name in found:
                found[node.name].append(str(path.relative_to(folder)))
    return found


def test_each_shared_concept_is_defined_once() -> None:
    assert definitions(TOOLS, ONCE) == {
        "canonical_json": ["digest.py"],
        "sha256_of": ["digest.py"],
        "free_port": ["probe.py"],
    }


def test_the_check_sees_a_second_definition(tmp_path: Path) -> None:
    """The control: the two copies of free_port there were (scale.py and registry.py)."""
    copy = "def free_port() -> int:\n    return 0\n"
    (tmp_path / "scale.py").write_text(copy)
    (tmp_path / "registry.py").write_text(copy)
    assert definitions(tmp_path, ("free_port",)) == {"free_port": ["registry.py", "scale.py"]}


# A concept's mark in the source, and the only modules that may hold it.
ONE_PLACE = {
    '"sha256:" +': [],  # digest.from_hex, digest_of and digest_of_file write that form
    '"RepoTags": list(': ["image/archive.py"],  # writing a docker-archive's manifest
    "subprocess.Popen(": ["process.py"],
    # rootfs.py runs alone inside the image build (standard library, no ner_build)
    "subprocess.run(": ["build/rootfs.py", "process.py"],
    "time.monotonic() +": ["wait.py"],  # a deadline: polling loops use wait.until
}


def holders(folder: Path, mark: str) -> list[str]:
    return [
        path.relative_to(folder).as_posix()
        for path in sorted(folder.rglob("*.py"))
        if mark in path.read_text()
    ]


def test_each_concept_lives_in_one_module() -> None:
    assert {mark: holders(TOOLS, mark) for mark in ONE_PLACE} == ONE_PLACE


def test_the_check_sees_a_second_holder(tmp_path: Path) -> None:
    """The control: the second Popen there was, in the registry, beside process.py's."""
    (tmp_path / "engine").mkdir()
    (tmp_path / "process.py").write_text("subprocess.Popen(command)\n")
    (tmp_path / "engine" / "registry.py").write_text("subprocess.Popen([binary])\n")
    assert holders(tmp_path, "subprocess.Popen(") == ["engine/registry.py", "process.py"]


def test_canonical_json_sorts_keys_and_drops_spaces() -> None:
    value = {"b": [1, {"d": "é", "c": None}], "a": 2}
    encoded = canonical_json(value)
    assert encoded == b'{"a":2,"b":[1,{"c":null,"d":"\\u00e9"}]}'
    assert json.loads(encoded) == value


def test_free_port_can_be_listened_on() -> None:
    port = free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert listener.getsockname()[1] == port
