"""The Renovate configuration: one weekly pull request for every pin, checked against
Renovate's schema (vendored in check-jsonschema, offline) and read as Renovate reads it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".github" / "renovate.json"
WEEKLY = ["* 0-5 * * 1"]


def config() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(CONFIG.read_text())
    return loaded


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema")
    )
    return subprocess.run(
        [tool, "--builtin-schema", "vendor.renovate", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_config_matches_renovates_schema() -> None:
    result = check_jsonschema(CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_config_with_a_wrong_schedule_fails_the_schema_check(tmp_path: Path) -> None:
    """The control: the same config with a schedule that is not a list of strings."""
    broken = {**config(), "schedule": 5}
    copy = tmp_path / "renovate.json"
    copy.write_text(json.dumps(broken))
    result = check_jsonschema(copy)
    assert result.returncode != 0
    assert "$.schedule" in result.stdout


def test_every_pinned_input_has_its_manager() -> None:
    assert set(config()["enabledManagers"]) == {
        "dockerfile", "github-actions", "npm", "poetry",
    }  # fmt: skip


def test_every_update_goes_into_one_weekly_group() -> None:
    rules = config()["packageRules"]
    catch_all = [rule for rule in rules if rule.get("matchPackageNames") == ["*"]]
    assert len(catch_all) == 1
    assert catch_all[0]["groupName"] == "weekly pins"
    assert config()["schedule"] == WEEKLY
    assert config()["lockFileMaintenance"] == {"enabled": True, "schedule": WEEKLY}


def test_the_base_image_and_the_actions_stay_pinned_by_digest() -> None:
    extends = config()["extends"]
    assert "docker:pinDigests" in extends
    assert "helpers:pinGitHubActionDigests" in extends


def test_python_major_and_minor_bumps_of_the_base_are_off() -> None:
    (rule,) = [r for r in config()["packageRules"] if r.get("matchPackageNames") == ["python"]]
    assert rule["matchUpdateTypes"] == ["major", "minor"]
    assert rule["enabled"] is False


def test_no_registry_host_is_written_into_the_config() -> None:
    assert "http" not in json.dumps(config()).replace(config()["$schema"], "")
