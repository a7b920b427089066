"""The deployment: Dockerfile, Kustomize base and example overlay, IAM policy.

The manifests are rendered with the real ``kubectl kustomize`` (kubectl's built-in Kustomize) and every
object is validated offline against the Kubernetes JSON schemas bundled by ``kubernetes-validate``.
Then what the manifests promise is checked against the code they run: the ClusterRole against the
requests the Kubernetes collector really makes, the IAM policy against every boto3 call in the code,
the ConfigMap's chargeback.toml through the project's own config loader, and the Dockerfile against
the repository (no Docker engine runs here, so the image is checked statically, not built).
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import inspect
import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import botocore.session
import click
import kubernetes_validate
import pytest
import typer
import yaml
from kubernetes import client as k8s

from chargeback.cli import app
from chargeback.core import aws
from chargeback.core import config as config_module
from collectors import kubernetes as k8s_collector
from collectors import prometheus_http, prometheus_queries
from collectors.base import Window
from tests.services.k8s_api import FakeKubeApi

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"
EXAMPLE = DEPLOY / "overlays" / "example"
KUSTOMIZATIONS = {"base": BASE, "example": EXAMPLE}
POLICY = DEPLOY / "iam-policy.json"
# Kubernetes versions to validate against: the oldest EKS version these manifests are meant for, and
# the newest whose schemas kubernetes-validate bundles.
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
PLACEHOLDER_ROLE = "arn:aws:iam::000000000000:role/SET-IN-AN-OVERLAY"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
READ_ONLY_VERBS = {"get", "list", "watch"}
APP_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)


# --- rendering --------------------------------------------------------------------------------------------


@functools.cache
def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail(
            "kubectl is missing: these tests render the manifests with `kubectl kustomize` (Kustomize v5). "
            "The machine image ships it (apt package `kubectl` from the Google Cloud SDK repository)."
        )
    return path


@functools.cache
def _render(directory: Path) -> tuple[dict, ...]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def render(name: str) -> list[dict]:
    return list(_render(KUSTOMIZATIONS[name]))


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_spec(objects: list[dict]) -> dict:
    return one(objects, "Deployment")["spec"]["template"]["spec"]


def container(objects: list[dict], name: str) -> dict:
    (found,) = [c for c in pod_spec(objects)["containers"] if c["name"] == name]
    return found


def all_containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def port_number(spec_container: dict, port: int | str) -> int:
    """A probe's or Service's port (a number or a container port's name) as a number."""
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in spec_container.get("ports", []) if p.get("name") == port]
    return number


def mount(spec_container: dict, volume: str) -> dict:
    (found,) = [m for m in spec_container.get("volumeMounts", []) if m["name"] == volume]
    return found


def volume(objects: list[dict], name: str) -> dict:
    (found,) = [v for v in pod_spec(objects)["volumes"] if v["name"] == name]
    return found


def loaded_config(objects: list[dict], tmp_path: Path) -> config_module.Config:
    """The ConfigMap's chargeback.toml, loaded by the project's loader from where the pod mounts it."""
    data = one(objects, "ConfigMap")["data"]
    assert set(data) == {"chargeback.toml"}
    path = tmp_path / "chargeback.toml"
    path.write_text(data["chargeback.toml"])
    return config_module.load(path)


def config_path(objects: list[dict]) -> PurePosixPath:
    """The --config the scheduler is started with."""
    args = container(objects, "scheduler")["args"]
    return PurePosixPath(args[args.index("--config") + 1])


def cli_params(args: list[str]) -> dict:
    """How the real CLI parses a container's args (the image's ENTRYPOINT is `chargeback`): its options."""
    group = typer.main.get_command(app)
    command = group.get_command(click.Context(group), args[0])
    assert command is not None, f"`chargeback {args[0]}` is not a command"
    with command.make_context(args[0], list(args[1:])) as context:
        return dict(context.params)


# --- manifests: render and validate ---------------------------------------------------------------------


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_rendered_object_validates_against_the_kubernetes_schemas(name):
    objects = render(name)
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "Namespace",
            "PersistentVolumeClaim",
            "Service",
            "Service",
            "ServiceAccount",
        ]
    )
    for obj in objects:
        for version in K8S_VERSIONS:
            # strict: unknown fields (a typo, a field at the wrong level) fail too
            kubernetes_validate.validate(obj, version, strict=True)


def test_the_storage_class_offered_beside_the_example_overlay_validates():
    storage_class = yaml.safe_load((EXAMPLE / "storageclass-gp3.yaml").read_text())
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(storage_class, version, strict=True)
    pvc = one(render("example"), "PersistentVolumeClaim")
    assert storage_class["metadata"]["name"] == pvc["spec"]["storageClassName"] == "gp3"
    assert storage_class["provisioner"] == "ebs.csi.aws.com"
    assert storage_class["parameters"]["type"] == "gp3"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"


def test_a_broken_manifest_does_not_validate():
    """The validator is not a rubber stamp: a misplaced field and a wrong type are caught."""
    deployment = json.loads(json.dumps(one(render("base"), "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = ["2"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)
    deployment = json.loads(json.dumps(one(render("base"), "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_objects_carry_the_app_labels_and_live_in_the_chargeback_namespace(name):
    objects = render(name)
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        assert all(labels.get(key) for key in APP_LABELS), f"{obj['kind']} lacks app.kubernetes.io labels"
        if obj["kind"] not in cluster_scoped:
            assert obj["metadata"]["namespace"] == "chargeback", obj["kind"]
    deployment = one(objects, "Deployment")
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(template_labels.get(key) for key in APP_LABELS)
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= template_labels.items()
    for service in (o for o in objects if o["kind"] == "Service"):
        assert service["spec"]["selector"].items() <= template_labels.items(), service["metadata"]["name"]


# --- RBAC: exactly what the collector reads, read-only ----------------------------------------------------


def _rbac_request(path: str, query: dict[str, str]) -> tuple[str, str, str]:
    """(API group, resource, verb) of an API request, as the API server's authorizer sees it."""
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        group, rest = "", parts[2:]
    else:
        assert parts[0] == "apis", path
        group, rest = parts[1], parts[3:]
    if rest[0] == "namespaces" and len(rest) >= 3:  # a namespaced resource inside one namespace
        rest = rest[2:]
    resource, name = rest[0], (rest[1] if len(rest) > 1 else None)
    verb = "watch" if query.get("watch") in ("true", "1") else ("get" if name else "list")
    return group, resource, verb


def _requests_the_collector_makes() -> set[tuple[str, str, str]]:
    """Run a real snapshot against the recorded API server and note every request's RBAC triple."""
    window = Window(datetime(2026, 10, 28, tzinfo=UTC), datetime(2026, 10, 29, tzinfo=UTC))
    with FakeKubeApi() as api:
        configuration = k8s.Configuration(host=api.url)
        configuration.retries = 0
        collector = k8s_collector.KubernetesCollector(
            "prod", k8s.ApiClient(configuration), page_size=2, clock=lambda: datetime.now(UTC)
        )
        for _ in collector.collect(window):
            pass
        requests = list(api.requests)
    assert requests and all(r.status == 200 for r in requests)
    return {_rbac_request(r.path, r.query) for r in requests}


def _granted(cluster_role: dict) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in cluster_role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_the_cluster_role_grants_exactly_the_resources_the_collector_reads():
    cluster_role = one(render("base"), "ClusterRole")
    for rule in cluster_role["rules"]:
        assert set(rule) == {"apiGroups", "resources", "verbs"}, "no resourceNames, nonResourceURLs or others"
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"]
        assert set(rule["verbs"]) <= READ_ONLY_VERBS, rule
    granted = _granted(cluster_role)
    made = _requests_the_collector_makes()
    assert made <= granted, f"the collector makes requests the ClusterRole does not allow: {made - granted}"
    # Exactly those resources: nothing granted that the collector never reads.
    assert {(g, r) for g, r, _ in granted} == {(g, r) for g, r, _ in made}
    # ... which are the collector's declared RESOURCES (all of them were exercised above).
    assert {(g, r) for g, r, _ in made} == {(res.api_group, res.resource) for res in k8s_collector.RESOURCES}


def test_the_cluster_role_grants_the_verbs_the_collectors_permission_error_asks_for():
    """A 403 prints the `kubectl create clusterrole` that grants access; the manifests grant the same."""
    verbs = set(re.search(r"--verb=(\S+)", k8s_collector.RBAC_HINT).group(1).split(","))
    assert verbs == {"get", "list"}
    for rule in one(render("base"), "ClusterRole")["rules"]:
        assert set(rule["verbs"]) == verbs


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_the_binding_gives_the_role_to_the_pods_service_account(name):
    objects = render(name)
    binding = one(objects, "ClusterRoleBinding")
    role = one(objects, "ClusterRole")
    service_account = one(objects, "ServiceAccount")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": service_account["metadata"]["name"],
            "namespace": service_account["metadata"]["namespace"],
        }
    ]
    assert pod_spec(objects)["serviceAccountName"] == service_account["metadata"]["name"]


# --- AWS identity (IRSA) ------------------------------------------------------------------------------------


def test_the_base_service_account_carries_a_placeholder_role_the_example_overlay_replaces():
    base = one(render("base"), "ServiceAccount")["metadata"]["annotations"]
    example = one(render("example"), "ServiceAccount")["metadata"]["annotations"]
    assert base[IRSA_ANNOTATION] == PLACEHOLDER_ROLE
    assert example[IRSA_ANNOTATION] != PLACEHOLDER_ROLE
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]{1,64}", example[IRSA_ANNOTATION])
    assert example["eks.amazonaws.com/sts-regional-endpoints"] == "true"


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_only_the_scheduler_gets_aws_and_kubernetes_credentials(name):
    objects = render(name)
    spec = pod_spec(objects)
    annotations = one(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["eks.amazonaws.com/skip-containers"].split(",") == ["dashboard"]
    # The API token is not mounted everywhere, only where the collector runs.
    assert spec["automountServiceAccountToken"] is False
    token = volume(objects, "kube-api-access")["projected"]["sources"]
    assert {"serviceAccountToken", "configMap", "downwardAPI"} == {key for source in token for key in source}
    scheduler_mount = mount(container(objects, "scheduler"), "kube-api-access")
    # Where the Kubernetes client's in-cluster configuration reads the token, CA and namespace.
    assert scheduler_mount["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
    assert scheduler_mount["readOnly"] is True
    dashboard_volumes = {m["name"] for m in container(objects, "dashboard")["volumeMounts"]}
    assert "kube-api-access" not in dashboard_volumes


# --- the scheduler and the dashboard -------------------------------------------------------------------------


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_the_scheduler_runs_once_with_probes_and_metrics_on_its_port(name, tmp_path):
    objects = render(name)
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # never two writers of the warehouse
    scheduler = container(objects, "scheduler")
    assert scheduler["args"] == ["schedule", "--config", "/etc/chargeback/chargeback.toml"]
    assert "command" not in scheduler  # the image's ENTRYPOINT, `chargeback`
    assert cli_params(scheduler["args"])["config"] == Path("/etc/chargeback/chargeback.toml")
    settings = loaded_config(objects, tmp_path)
    assert settings.schedule.address == "0.0.0.0"  # the kubelet probes the pod's address, not loopback
    assert settings.schedule.port == 9090
    liveness, readiness = scheduler["livenessProbe"]["httpGet"], scheduler["readinessProbe"]["httpGet"]
    # Liveness judges the loop alone: /healthz turns 503 after repeated job failures (a source down),
    # which a restart does not mend; restarting on it would loop, cutting every build short.
    assert liveness["path"] == "/livez"
    # Readiness must not follow job health: the pod's readiness also decides whether the dashboard is served.
    assert readiness["path"] == "/metrics"
    for check in (liveness, readiness):
        assert port_number(scheduler, check["port"]) == settings.schedule.port
    assert [p for p in scheduler["ports"] if p["containerPort"] == 9090] == [{"name": "metrics", "containerPort": 9090}]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9090"
    assert annotations["prometheus.io/path"] == "/metrics"
    metrics = one(objects, "Service", "chargeback-metrics")
    assert metrics["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics"}]


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_the_dashboard_serves_the_scheduler_s_warehouse_read_only_on_its_service(name, tmp_path):
    objects = render(name)
    settings = loaded_config(objects, tmp_path)
    dashboard = container(objects, "dashboard")
    assert "command" not in dashboard  # the image's ENTRYPOINT, `chargeback`
    assert dashboard["args"] == ["dashboard", "--wait", "--config", str(config_path(objects))]
    # It waits for the warehouse the config names (the scheduler's first build), then serves where the
    # Service sends traffic.
    assert cli_params(dashboard["args"]) == {"wait": True, "config": Path(config_path(objects)), "data_dir": None}
    assert "livenessProbe" not in dashboard, "waiting for the first build may take as long as it takes"
    assert settings.dashboard.address == "0.0.0.0"
    assert port_number(dashboard, "http") == settings.dashboard.port == 8501
    assert port_number(dashboard, dashboard["readinessProbe"]["httpGet"]["port"]) == 8501
    assert dashboard["readinessProbe"]["httpGet"]["path"] == "/_stcore/health"
    service = one(objects, "Service", "chargeback-dashboard")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": 8501, "targetPort": "http"}]
    # Same volume as the scheduler, same path, but read-only.
    scheduler_data, dashboard_data = mount(container(objects, "scheduler"), "data"), mount(dashboard, "data")
    assert dashboard_data["mountPath"] == scheduler_data["mountPath"] == str(settings.data_dir)
    assert dashboard_data["readOnly"] is True
    assert not scheduler_data.get("readOnly")


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_the_config_map_is_a_valid_chargeback_toml_for_this_pod(name, tmp_path):
    objects = render(name)
    settings = loaded_config(objects, tmp_path)
    # The data directory is the volume's mount; the config is where --config points.
    assert str(settings.data_dir) == mount(container(objects, "scheduler"), "data")["mountPath"]
    config_map = one(objects, "ConfigMap")
    assert volume(objects, "config")["configMap"] == {"name": config_map["metadata"]["name"]}
    assert re.fullmatch(r"chargeback-config-[a-z0-9]{10}", config_map["metadata"]["name"])  # hashed: edits roll
    for spec_container in pod_spec(objects)["containers"]:
        config_mount = mount(spec_container, "config")
        assert config_mount["mountPath"] == str(config_path(objects).parent)
        assert config_mount["readOnly"] is True
        assert {"name": "CHARGEBACK_CONFIG", "value": str(config_path(objects))} in spec_container["env"]
    # Collection inside the cluster uses the pod's service account, not a kubeconfig.
    assert settings.clusters
    for cluster in settings.clusters:
        assert cluster.kubernetes is not None and cluster.kubernetes.in_cluster
    # IRSA is the identity: a profile would not exist in the pod.
    assert settings.aws.profile is None


def test_the_example_overlay_carries_its_own_config_and_image():
    base, example = render("base"), render("example")
    assert one(base, "ConfigMap")["data"] != one(example, "ConfigMap")["data"]
    assert (EXAMPLE / "chargeback.toml").read_text() == one(example, "ConfigMap")["data"]["chargeback.toml"]
    for spec_container in pod_spec(example)["containers"]:
        assert re.fullmatch(r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/chargeback:[\w.-]+", spec_container["image"])
    for spec_container in pod_spec(base)["containers"]:
        assert spec_container["image"] == "chargeback:0.1.0"


# --- resources, security context, storage -------------------------------------------------------------------


def _quantity(value: str) -> float:
    return float(k8s_collector.quantity(value))


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_container_has_requests_and_limits(name):
    for spec_container in all_containers(pod_spec(render(name))):
        resources = spec_container["resources"]
        for resource in ("cpu", "memory"):
            request, limit = resources["requests"][resource], resources["limits"][resource]
            assert 0 < _quantity(request) <= _quantity(limit), (spec_container["name"], resource)
    scheduler = container(render(name), "scheduler")["resources"]["limits"]
    assert _quantity(scheduler["memory"]) >= 4 * 2**30  # a large month builds within 4 GiB; leave room


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_container_runs_restricted(name):
    objects = render(name)
    spec = pod_spec(objects)
    pod_context = spec["securityContext"]
    assert pod_context["runAsNonRoot"] is True
    assert pod_context["runAsUser"] == pod_context["runAsGroup"] == pod_context["fsGroup"] == dockerfile_uid()
    assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not any(spec.get(key) for key in ("hostNetwork", "hostPID", "hostIPC"))
    assert not any("hostPath" in v for v in spec["volumes"])
    for spec_container in all_containers(spec):
        context = spec_container["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not context.get("privileged")
        # A read-only root needs a writable /tmp: an emptyDir of its own.
        tmp = [m for m in spec_container["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert len(tmp) == 1, spec_container["name"]
        assert "emptyDir" in volume(objects, tmp[0]["name"])
        assert {"name": "HOME", "value": "/tmp"} in spec_container["env"]
    namespace = one(objects, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_the_data_volume_is_one_read_write_once_claim(name):
    objects = render(name)
    pvc = one(objects, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert volume(objects, "data")["persistentVolumeClaim"] == {"claimName": pvc["metadata"]["name"]}
    expected_class = {"base": None, "example": "gp3"}[name]
    assert pvc["spec"].get("storageClassName") == expected_class


# --- Dockerfile -------------------------------------------------------------------------------------------


def dockerfile(path: Path = ROOT / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each build stage (global ARGs before the first FROM are stage -1's)."""
    result: list[list[tuple[str, str]]] = [[]]
    for instruction in dockerfile():
        if instruction[0] == "FROM":
            result.append([])
        result[-1].append(instruction)
    return result


def from_image(argument: str) -> str:
    """A FROM's image with the global ARG defaults substituted."""
    defaults = dict(arg.split("=", 1) for keyword, arg in stages()[0] if keyword == "ARG" and "=" in arg)
    image = argument.split()[0]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults[m.group(1) or m.group(2)], image)


def dockerfile_uid() -> int:
    (user,) = [arg for keyword, arg in stages()[-1] if keyword == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and gid.isdigit(), "a numeric USER, so the kubelet can verify runAsNonRoot"
    assert uid == gid
    return int(uid)


def dockerignored(path: str, ignore_file: Path = ROOT / ".dockerignore") -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context (Docker's rules: the last matching
    pattern wins, ``!`` re-includes, a pattern matching a parent folder matches what is inside)."""
    patterns = [line.strip() for line in ignore_file.read_text().splitlines() if line.strip() and line[0] != "#"]

    def regex(pattern: str) -> re.Pattern[str]:
        out = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**", i):
                out += ".*"
                i += 2
            elif pattern[i] == "*":
                out += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                out += "[^/]"
                i += 1
            else:
                out += re.escape(pattern[i])
                i += 1
        return re.compile(out + "$")

    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        cleaned = pattern.lstrip("!").strip("/")
        if any(regex(cleaned).match(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def test_the_image_is_python_3_11_slim_and_runs_chargeback_as_a_non_root_user():
    froms = [arg for keyword, arg in dockerfile() if keyword == "FROM"]
    assert len(froms) == 2, "a build stage and a runtime stage"
    for argument in froms:
        assert from_image(argument).startswith("python:3.11-slim"), argument
    final = stages()[-1]
    assert dockerfile_uid() != 0
    entrypoint = [json.loads(arg) for keyword, arg in final if keyword == "ENTRYPOINT"]
    assert entrypoint == [["chargeback"]]  # exec form: chargeback is PID 1 and gets SIGTERM
    (cmd,) = [json.loads(arg) for keyword, arg in final if keyword == "CMD"]
    assert isinstance(cmd, list) and cmd
    assert "chargeback" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    exposed = {int(port) for keyword, arg in final if keyword == "EXPOSE" for port in arg.split()}
    assert exposed == {9090, 8501}
    env = " ".join(arg for keyword, arg in final if keyword == "ENV")
    assert "PATH=/opt/chargeback/bin:" in env
    assert ("COPY", "--from=build /opt/chargeback /opt/chargeback") in final


def test_the_image_installs_the_package_without_test_extras():
    build = stages()[1]
    runs = [arg for keyword, arg in build if keyword == "RUN"]
    installs = [run for run in runs if re.search(r"pip install\b", run)]
    assert len(installs) == 1
    assert re.search(r"pip install (\S+ )*\.(\s|$)", installs[0]), "installs the package from the context"
    assert "[test]" not in installs[0] and "-e " not in installs[0], "a regular install, no test extras"
    assert not any("[test]" in arg for _, arg in dockerfile())


def test_every_copy_source_exists_and_is_in_the_build_context():
    copied: set[str] = set()
    for keyword, arg in dockerfile():
        if keyword != "COPY" or arg.startswith("--from"):
            continue
        *sources, _destination = arg.split()
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"COPY {source}: no such file in the repository"
            assert not dockerignored(source), f"COPY {source}: .dockerignore leaves it out of the context"
            copied.add(source.rstrip("/"))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # What the wheel is built from: pyproject, its readme, every package it includes.
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= copied
    packages = {pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied
    # ... with what is inside them: code, SQL models, data files, the dashboard app and its views.
    for package in packages:
        for file in (ROOT / package).rglob("*"):
            relative = file.relative_to(ROOT).as_posix()
            if file.is_file() and "__pycache__" not in relative:
                assert not dockerignored(relative), relative
    assert dockerignored(".venv/bin/python") and dockerignored("data/warehouse.duckdb")
    assert dockerignored(".git/config") and dockerignored("chargeback/__pycache__/cli.cpython-311.pyc")


# --- kube-state-metrics: what the Prometheus collector reads ---------------------------------------------------

KSM_VALUES = DEPLOY / "kube-state-metrics" / "values.yaml"
# kube-state-metrics' resource (its --resources / the chart's collectors) of each series prefix.
KSM_RESOURCES = {
    "kube_job_": "jobs",
    "kube_namespace_": "namespaces",
    "kube_node_": "nodes",
    "kube_persistentvolume_": "persistentvolumes",
    "kube_pod_": "pods",
    "kube_replicaset_": "replicasets",
}


def test_the_kube_state_metrics_values_keep_exactly_the_series_and_labels_the_collector_reads():
    values = yaml.safe_load(KSM_VALUES.read_text())
    assert set(values) == {"metricLabelsAllowlist", "collectors", "metricAllowlist"}
    kube = sorted(m for m in prometheus_queries.METRICS if m.startswith("kube_"))
    assert values["metricAllowlist"] == kube
    assert values["collectors"] == sorted({KSM_RESOURCES[p] for m in kube for p in KSM_RESOURCES if m.startswith(p)})
    for cadvisor in (m for m in prometheus_queries.METRICS if not m.startswith("kube_")):
        assert cadvisor in KSM_VALUES.read_text(), f"{cadvisor} is not named among the cAdvisor series"
    labels = {}
    for entry in values["metricLabelsAllowlist"]:
        resource, _, keys = entry.partition("=")
        labels[resource] = keys.strip("[]").split(",")
    tenancy = config_module.Tenancy()
    assert labels["namespaces"] == [tenancy.namespace_label]
    assert tenancy.node_label in labels["nodes"] and "node.kubernetes.io/instance-type" in labels["nodes"]
    assert "emr-containers.amazonaws.com/job.id" in labels["pods"] and "spark-role" in labels["pods"]
    for keys in labels.values():  # the collector maps each back from kube-state-metrics' sanitized name
        assert set(keys) <= set(
            prometheus_queries.label_key_map([tenancy.namespace_label, tenancy.node_label]).values()
        )
    # docs/collecting.md quotes the same allowlist.
    docs = (ROOT / "docs" / "collecting.md").read_text()
    for entry in values["metricLabelsAllowlist"]:
        assert entry in docs, entry


# --- IAM policy: covers every AWS call the code makes --------------------------------------------------------

# (botocore service, operation) -> the IAM actions the call needs. Every boto3 call the code makes must be
# here, and the policy must grant these actions; an action the policy grants must be needed by one of these.
IAM_FOR_CALL: dict[tuple[str, str], frozenset[str]] = {
    # The CUR (collectors/cur.py): manifests and data files. s3:ListBucket makes a missing key answer 404
    # (which the collector reports as such) rather than 403.
    ("s3", "GetObject"): frozenset({"s3:GetObject"}),
    ("s3", "HeadObject"): frozenset({"s3:GetObject", "s3:ListBucket"}),
    # Exports to s3:// destinations (chargeback/exports): earlier manifests, then the new files.
    ("s3", "ListObjectsV2"): frozenset({"s3:ListBucket"}),
    ("s3", "PutObject"): frozenset({"s3:PutObject"}),
    # EMR on EKS (collectors/emr.py).
    ("emr-containers", "ListVirtualClusters"): frozenset({"emr-containers:ListVirtualClusters"}),
    ("emr-containers", "ListJobRuns"): frozenset({"emr-containers:ListJobRuns"}),
    ("emr-containers", "DescribeJobRun"): frozenset({"emr-containers:DescribeJobRun"}),
    # Cost Explorer (collectors/cost_explorer.py).
    ("ce", "GetCostAndUsage"): frozenset({"ce:GetCostAndUsage"}),
    # EBS volumes and load balancers (collectors/ec2.py, collectors/elbv2.py); Describe* take no resource ARN.
    ("ec2", "DescribeVolumes"): frozenset({"ec2:DescribeVolumes"}),
    ("elbv2", "DescribeLoadBalancers"): frozenset({"elasticloadbalancing:DescribeLoadBalancers"}),
    ("elbv2", "DescribeTags"): frozenset({"elasticloadbalancing:DescribeTags"}),
    # [aws] role_arn (chargeback/core/aws.py); IRSA's own AssumeRoleWithWebIdentity needs no permission.
    ("sts", "AssumeRole"): frozenset({"sts:AssumeRole"}),
    # Billing Conductor custom line items (chargeback export --to billing-conductor --apply).
    ("billingconductor", "ListCustomLineItems"): frozenset({"billingconductor:ListCustomLineItems"}),
    ("billingconductor", "CreateCustomLineItem"): frozenset({"billingconductor:CreateCustomLineItem"}),
    ("billingconductor", "UpdateCustomLineItem"): frozenset({"billingconductor:UpdateCustomLineItem"}),
    ("billingconductor", "DeleteCustomLineItem"): frozenset({"billingconductor:DeleteCustomLineItem"}),
    # Amazon Managed Prometheus: the Prometheus collector signs /api/v1/query(_range) with SigV4 (no boto3).
    ("aps", "QueryMetrics"): frozenset({"aps:QueryMetrics"}),
}
# boto3's S3 transfer methods: which API operations they make.
S3_TRANSFERS = {
    "download_file": ("HeadObject", "GetObject"),
    "download_fileobj": ("HeadObject", "GetObject"),
    "upload_file": (
        "PutObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
    ),
    "upload_fileobj": (
        "PutObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
    ),
}
CODE = ("chargeback", "collectors", "dashboards")


@functools.cache
def _operations(service: str) -> dict[str, str]:
    """snake_case method name -> API operation name, from botocore's own service model."""
    model = botocore.session.get_session().get_service_model(service)
    return {botocore.xform_name(op): op for op in model.operation_names}


def _python_files() -> Iterator[Path]:
    for package in CODE:
        yield from sorted((ROOT / package).rglob("*.py"))


def _clients_created(tree: ast.AST, available: set[str]) -> set[str]:
    """Services this module makes boto3 clients for: ``x.client("s3")``, ``aws.client(cfg, SERVICE)``."""
    constants = {
        target.id: node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    services = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if name != "client":
            continue
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            value = arg.value if isinstance(arg, ast.Constant) else constants.get(getattr(arg, "id", None))
            if isinstance(value, str) and value in available:
                services.add(value)
    return services


@functools.cache
def aws_calls() -> dict[tuple[str, str], list[str]]:
    """Every boto3 API call in the code: (service, operation) -> where. A method call or a string naming an
    operation (paginators are asked for by name) of a service the module makes clients for; modules that
    are handed a client they did not make are checked against every service the code or the table uses."""
    available = set(botocore.session.get_session().get_available_services())
    trees = {path: ast.parse(path.read_text(), str(path)) for path in _python_files()}
    created = {path: _clients_created(tree, available) for path, tree in trees.items()}
    everywhere = set().union(*created.values(), (service for service, _ in IAM_FOR_CALL if service in available))
    calls: dict[tuple[str, str], list[str]] = {}
    for path, tree in trees.items():
        services = created[path] or everywhere
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                name = node.value
            else:
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            for service in services:
                if service == "s3" and name in S3_TRANSFERS and isinstance(node, ast.Call):
                    for operation in S3_TRANSFERS[name]:
                        calls.setdefault((service, operation), []).append(where)
                elif name in _operations(service):
                    calls.setdefault((service, _operations(service)[name]), []).append(where)
    return calls


def policy_statements() -> list[dict]:
    policy = json.loads(POLICY.read_text())
    assert policy["Version"] == "2012-10-17"
    statements = policy["Statement"]
    for statement in statements:
        assert statement["Effect"] == "Allow" and set(statement) == {"Sid", "Effect", "Action", "Resource"}
    return statements


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def granted_resources(action: str) -> list[str]:
    """The resources the policy grants ``action`` on (IAM action names are case-insensitive)."""
    return [
        resource
        for statement in policy_statements()
        if any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in _listed(statement["Action"]))
        for resource in _listed(statement["Resource"])
    ]


def test_the_code_scan_finds_the_calls_we_know_of():
    """The scan itself works: it sees direct calls, paginators named by string and S3 transfers."""
    calls = aws_calls()
    for known in [
        ("s3", "GetObject"),
        ("s3", "HeadObject"),
        ("emr-containers", "ListVirtualClusters"),  # through get_paginator(operation)
        ("emr-containers", "ListJobRuns"),
        ("emr-containers", "DescribeJobRun"),
        ("ce", "GetCostAndUsage"),
        ("sts", "AssumeRole"),
        ("ec2", "DescribeVolumes"),  # through get_paginator(operation)
        ("elbv2", "DescribeLoadBalancers"),
        ("elbv2", "DescribeTags"),
    ]:
        assert known in calls, f"the scan missed {known}"


def calls_and_amp() -> dict[tuple[str, str], list[str]]:
    calls = dict(aws_calls())
    # The Prometheus collector's SigV4 signing is for Amazon Managed Prometheus ("aps").
    assert inspect.signature(prometheus_http.SigV4Auth).parameters["service"].default == "aps"
    calls[("aps", "QueryMetrics")] = ["collectors/prometheus_http.py (SigV4Auth)"]
    return calls


def test_every_aws_call_in_the_code_is_mapped_to_iam_actions_the_policy_grants():
    calls = calls_and_amp()
    unmapped = {call: where for call, where in calls.items() if call not in IAM_FOR_CALL}
    assert not unmapped, (
        f"AWS calls without IAM actions in IAM_FOR_CALL (add them there and to deploy/iam-policy.json): {unmapped}"
    )
    missing = {action: call for call in calls for action in IAM_FOR_CALL[call] if not granted_resources(action)}
    assert not missing, f"deploy/iam-policy.json does not grant: {missing}"
    # The permission the code's own error hint names (chargeback/core/aws.py) is one the table lists.
    for service, operation in calls:
        if service != "aps":
            assert aws.iam_action(service, operation) in IAM_FOR_CALL[(service, operation)], (service, operation)


def test_the_policy_grants_only_what_the_code_calls():
    needed = {action for call in calls_and_amp() for action in IAM_FOR_CALL[call]}
    for statement in policy_statements():
        for action in _listed(statement["Action"]):
            assert "*" not in action, f"{statement['Sid']}: no wildcard actions ({action})"
            assert action in needed, f"{statement['Sid']} grants {action}, which no AWS call in the code needs"


def test_the_policy_reaches_the_example_overlay_s_cur_and_is_scoped(tmp_path):
    settings = loaded_config(render("example"), tmp_path)
    bucket, _, prefix = settings.cur.location.removeprefix("s3://").partition("/")
    manifest = f"arn:aws:s3:::{bucket}/{prefix}/metadata/BILLING_PERIOD=2026-10/x-Manifest.json"
    assert any(fnmatch.fnmatchcase(manifest, r) for r in granted_resources("s3:GetObject"))
    assert f"arn:aws:s3:::{bucket}" in granted_resources("s3:ListBucket")
    # Writes go to the configured exports prefix, never to the CUR bucket.
    assert not any(r.startswith(f"arn:aws:s3:::{bucket}") for r in granted_resources("s3:PutObject"))
    out_bucket, _, out_prefix = settings.export.out.removeprefix("s3://").partition("/")
    export_file = f"arn:aws:s3:::{out_bucket}/{out_prefix}/2026-10/focus/manifest.json"
    for action in ("s3:PutObject", "s3:GetObject"):
        assert any(fnmatch.fnmatchcase(export_file, r) for r in granted_resources(action)), action
    assert f"arn:aws:s3:::{out_bucket}" in granted_resources("s3:ListBucket")
    for action in ("s3:GetObject", "s3:PutObject", "s3:ListBucket", "sts:AssumeRole"):
        assert "*" not in granted_resources(action), action


# --- the install page (docs/install-eks.md) ------------------------------------------------------------------


def test_the_docs_walk_through_installing_on_eks():
    section = (ROOT / "docs" / "install-eks.md").read_text()
    for needed in [
        "docker build",
        "docker push",
        "deploy/iam-policy.json",
        "sts:AssumeRoleWithWebIdentity",
        "kubectl apply -k deploy/overlays/example",
        "port-forward",
        "/healthz",
        "/metrics",
        "url =",  # the Prometheus URL
    ]:
        assert needed in section, f"docs/install-eks.md does not mention {needed!r}"
    example_kustomization = (EXAMPLE / "kustomization.yaml").read_text()
    assert "serviceaccount-irsa.yaml" in example_kustomization and "serviceaccount-irsa.yaml" in section
