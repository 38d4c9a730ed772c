"""A failing browser test leaves its evidence; a passing one leaves none.

A small test module, run by its own pytest with these fixtures (conftest.py), opens the app's
page in a real container, makes the page log to the console and ask for an address nobody
answers, and then fails (or, as the control, passes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.integration.conftest import ROOT

INNER_CONFTEST = (
    "from tests.integration.conftest import *  # noqa: F403 (the fixtures under test)\n"
)
INNER_TESTS = """
import pytest
from tests.integration.conftest import HARDENED, url


@pytest.fixture(scope="module")
def app(start_app):
    return start_app(**HARDENED)


@pytest.mark.parametrize("outcome", ["fails", "passes"])
def test_the_page(open_page, app, outcome):
    page = open_page(url(app, "/"))
    page.evaluate("console.error('evidence: a console error')")
    with page.expect_event("requestfailed"):
        page.evaluate("fetch('http://127.0.0.1:9/nobody-answers').catch(() => null)")
    assert outcome == "passes", "this test fails on purpose"
"""


def run_inner(folder: Path, output: Path) -> subprocess.CompletedProcess[str]:
    (folder / "conftest.py").write_text(INNER_CONFTEST)
    (folder / "test_inner.py").write_text(INNER_TESTS)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tools")]),
        "NER_EVIDENCE": str(output),
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_failing_browser_test_leaves_trace_page_console_network_and_container(
    tmp_path: Path,
) -> None:
    output = tmp_path / "failures"
    done = run_inner(tmp_path, output)
    assert "1 failed, 1 passed" in done.stdout, done.stdout + done.stderr
    kept = [folder for folder in output.iterdir() if folder.is_dir()]
    assert [folder.name for folder in kept] == ["test_inner.py-test_the_page-fails"]
    folder = kept[0]
    browser = folder / "browser-1"
    with zipfile.ZipFile(browser / "trace.zip") as trace:
        assert any(name.endswith(".trace") for name in trace.namelist())
    assert (browser / "screenshot-1.png").read_bytes().startswith(b"\x89PNG")
    assert "Named entities" in (browser / "page-1.html").read_text()
    assert "error: evidence: a console error" in (browser / "console.txt").read_text()
    assert "http://127.0.0.1:9/nobody-answers" in (browser / "failed-requests.txt").read_text()
    logs = list((folder / "containers").glob("*.log"))  # the app logs nothing while healthy
    assert len(logs) == 1
    inspect = json.loads(logs[0].with_name(logs[0].stem + ".inspect.json").read_text())
    assert inspect[0]["Id"].startswith(logs[0].stem)  # the app's container, run hardened
    assert inspect[0]["Config"]["User"] == "12345:0"
