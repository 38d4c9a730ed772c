"""The scale-out pieces that need no engine: the stack file, HAProxy's config and state, the
outage arithmetic and the report."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ner_build.deploy import haproxy, scale, scale_report, scenarios, watch
from ner_build.deploy.compose import COMPOSE_FILE, stack_file
from ner_build.errors import CheckFailed
from ner_build.result import result_path

HAPROXY_CFG = COMPOSE_FILE.parent / "haproxy" / "haproxy.cfg"


def test_the_stack_file_is_the_compose_file_without_what_swarm_refuses(tmp_path: Path) -> None:
    original = yaml.safe_load(COMPOSE_FILE.read_text())
    derived = yaml.safe_load(stack_file(COMPOSE_FILE, tmp_path / "stack.yaml").read_text())
    assert "name" in original
    assert "name" not in derived
    assert [p.get("host_ip") for p in original["services"]["lb"]["ports"]] != [None]
    assert [p.get("host_ip") for p in derived["services"]["lb"]["ports"]] == [None]
    for service in ("app", "lb"):
        kept = {k: v for k, v in original["services"][service].items() if k != "ports"}
        assert {k: v for k, v in derived["services"][service].items() if k != "ports"} == kept


def test_compose_file_hardens_both_services_and_shares_the_cookie_secret() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    for service in services.values():
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert service["volumes"][0]["type"] == "tmpfs"
    secret = services["app"]["environment"]["STREAMLIT_SERVER_COOKIE_SECRET"]
    assert secret.startswith("${NER_COOKIE_SECRET:?")
    assert services["lb"]["environment"]["NER_LB_COOKIE_KEY"] == secret
    assert services["app"]["healthcheck"]["test"][-1] == "/readyz"


def haproxy_check(**env: str) -> subprocess.CompletedProcess[str]:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        pytest.fail("Debian's haproxy is needed: `sudo tools/provision-debian lb`")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NER_LB_")}
    return subprocess.run(
        [haproxy, "-c", "-f", str(HAPROXY_CFG)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.host
@pytest.mark.parametrize(
    "env",
    [
        {"NER_LB_COOKIE_KEY": "k"},
        {"NER_LB_AFFINITY": "none"},
        {"NER_LB_COOKIE_KEY": "k", "NER_LB_BASE_PATH": "/ner", "NER_LB_SLOTS": "3"},
    ],
)
def test_haproxy_accepts_the_config(env: dict[str, str]) -> None:
    result = haproxy_check(**env)
    assert result.returncode == 0, result.stderr


@pytest.mark.host
@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "Set NER_LB_COOKIE_KEY"),
        ({"NER_LB_AFFINITY": "sticky"}, "NER_LB_AFFINITY=sticky is neither cookie nor none"),
    ],
)
def test_haproxy_refuses_a_bad_setting_saying_what_to_do(env: dict[str, str], message: str) -> None:
    result = haproxy_check(**env)
    assert result.returncode != 0
    assert message in result.stderr


STATE = """1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight
3 app 1 app1 10.0.3.2 2 0 1 1 5 6 3 4 6 0 0 0 app 8501 - 0 0 - - 0
3 app 2 app2 10.0.3.3 0 0 1 1 5 6 3 4 6 0 0 0 app 8501 - 0 0 - - 0
3 app 3 app3 10.0.3.4 2 0 1 1 5 6 3 4 6 0 0 0 app 8501 - 0 0 - - 0
3 app 4 app4 - 0 32 1 1 5 6 3 4 6 0 0 0 - 0 - 0 0 - - 0
"""


def test_up_servers_are_the_running_ones_with_an_address() -> None:
    rows = [line.split() for line in STATE.splitlines()]
    assert haproxy.up_servers([r for r in rows if len(r) > 6 and r[0].isdigit()]) == [
        "app1",
        "app3",
    ]


def test_longest_bad_stretch_counts_5xx_and_no_answer() -> None:
    samples = [(0.0, 200), (1.0, 503), (1.5, 0), (2.5, 200), (3.0, 502), (3.2, 200)]
    assert watch.bad_stretch(samples)[0] == 1.5
    assert watch.bad_stretch([(0.0, 200), (1.0, 302)])[0] == 0.0
    assert watch.bad_stretch([(0.0, 200), (1.0, 503), (4.0, 503)])[0] == 3.0


def test_busiest_replica_and_its_refusal() -> None:
    assert scenarios.busiest_replica(["app2", "app1", "app2", None]) == "app2"
    with pytest.raises(CheckFailed, match="X-Ner-Replica"):
        scenarios.busiest_replica([None, None])


def test_the_report_names_failures_and_figures() -> None:
    good = scenarios.Outcome("affinity", figures={"ok": 12, "total": 12, "replicas": {"app1": 4}})
    bad = scenarios.Outcome("control", figures={"ok": 9, "total": 12, "errors": {"HTTP 400": 3}})
    bad.require(False, "every session passed without affinity")
    table = scale_report.markdown([good, bad], "abc1234")
    assert "| affinity | 12/12 | app1 4 |" in table
    assert "errors: HTTP 400 x3" in table
    assert "FAILED: every session passed without affinity" in table


def test_results_reach_the_readme_only_when_recorded(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    before = f"intro\n{scale_report.MARKERS[0]}\nold table\n{scale_report.MARKERS[1]}\nend\n"
    readme.write_text(before)
    outcome = scenarios.Outcome("affinity", figures={"ok": 12, "total": 12})
    scale_report.write([outcome], "abc1234", tmp_path / "run", None)
    assert '"commit": "abc1234"' in (tmp_path / "run" / "scale.json").read_text()
    assert "| affinity | 12/12 |" in (tmp_path / "run" / "scale.md").read_text()
    assert readme.read_text() == before
    scale_report.write([outcome], "abc1234", tmp_path / "recorded", readme)  # the control: --record
    assert "old table" not in readme.read_text()
    assert "| affinity | 12/12 |" in readme.read_text()


def test_a_run_without_record_writes_nothing_that_is_committed() -> None:
    args = scale.parser({}).parse_args([])
    assert not args.record
    assert scenarios.LOGS.relative_to(scale.ROOT).parts[0] == "build"
    assert scale.parser({}).parse_args(["--record"]).record


def test_first_change_is_timed_from_the_event() -> None:
    samples = [(1.0, ["app1", "app2"]), (2.0, ["app1", "app2"]), (2.5, ["app2"]), (4.0, ["app1"])]
    assert watch.first_change(samples, 1.5, lambda up: "app1" not in up) == 1.0
    assert watch.first_change(samples, 3.0, lambda up: "app1" in up) == 1.0
    assert watch.first_change(samples, 1.5, lambda up: up == []) is None


def test_a_sampler_keeps_what_its_probe_returned() -> None:
    values = iter(range(1000))
    with watch.Sampler(lambda: next(values), every=0.001) as sampler:
        scenarios.wait_until(lambda: len(sampler.samples) >= 3, 5, "three samples")
    assert [value for _, value in sampler.samples[:3]] == [0, 1, 2]
    assert sampler.samples[0][0] <= sampler.samples[1][0] <= sampler.samples[2][0]


def test_the_longest_bad_stretch_names_its_statuses() -> None:
    samples = [(0.0, 200), (1.0, 503), (1.5, 0), (2.0, 200), (3.0, 502), (3.2, 200)]
    assert watch.bad_stretch(samples) == (1.0, [503, 0])
    assert watch.bad_stretch([(0.0, 200)]) == (0.0, [])
    assert watch.bad_stretch([(0.0, 0), (2.5, 0)]) == (2.5, [0, 0])


def test_the_build_record_is_found_as_every_command_finds_it(tmp_path: Path) -> None:
    """NER_BUILD_RESULT (build/arm64/image.json, say) as result_path reads it; scale read
    build/image.json whatever it said."""
    record = tmp_path / "arm64.json"
    assert scale.parser({"NER_BUILD_RESULT": str(record)}).parse_args([]).result == record
    assert scale.parser({}).parse_args([]).result == result_path({})
