"""The EMR on EKS build job in deploy/emr: request, pod templates, IAM, image, entry point, submit script.

The start-job-run request is filled by deploy/emr/submit.sh itself (the way a user fills it), then checked
against botocore's own model of EmrContainers.StartJobRun and submitted over HTTP to moto's server. Its
Spark settings are checked against the configuration keys Spark's own jars define, the pod templates
against the Kubernetes schemas, and the IAM policy against the S3 and CloudWatch locations the filled
request names. No Docker engine runs here, so the image is checked statically, as in test_deploy.py.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import runpy
import shlex
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import botocore.session
import click
import kubernetes_validate
import pytest
import typer
import yaml
from botocore.model import Shape
from botocore.validate import ParamValidator

import chargeback.cli
from chargeback.core import config as config_module
from chargeback.core.errors import ConfigError
from tests.services.aws import ACCOUNT, moto  # noqa: F401 - moto is a fixture
from tests.test_deploy import K8S_VERSIONS, ROOT, dockerfile, dockerignored

EMR = ROOT / "deploy" / "emr"
ENTRYPOINT = EMR / "entrypoint.py"
SUBMIT = EMR / "submit.sh"
TEMPLATES = {
    "start-job-run.json": EMR / "start-job-run.json",
    "iam-job-execution-policy.json": EMR / "iam-job-execution-policy.json",
    "iam-job-execution-trust-policy.json": EMR / "iam-job-execution-trust-policy.json",
    "driver-pod-template.yaml": EMR / "driver-pod-template.yaml",
    "executor-pod-template.yaml": EMR / "executor-pod-template.yaml",
}
PLACEHOLDER = re.compile(r"\$\{([A-Z0-9_]+)\}")
COMPUTED = {"BASE36_JOB_ROLE"}  # submit.sh computes it from JOB_ROLE
# What a user would export (the account is moto's, so the filled request also runs there).
SETTINGS = {
    "ACCOUNT": ACCOUNT,
    "AWS_REGION": "us-east-1",
    "VIRTUAL_CLUSTER_ID": "abcdefghijklmnopqrstuvwxy",
    "NAMESPACE": "emr-platform",
    "OIDC_PROVIDER": "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B716D3041E",
    "JOB_ROLE": "chargeback-emr-job",
    "IMAGE": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/chargeback:emr-0.1.0",
    "JOB_BUCKET": "acme-jobs",
    "JOB_PREFIX": "chargeback/emr",
    "DATA_BUCKET": "acme-finance",
    "RAW_PREFIX": "chargeback/data/raw",
    "LOG_GROUP": "/emr-on-eks/chargeback",
    "DATA_CLAIM": "chargeback-data",
}
POD_TEMPLATE_KEYS = {  # Spark on Kubernetes's keys, and the file each one names
    "spark.kubernetes.driver.podTemplateFile": "driver-pod-template.yaml",
    "spark.kubernetes.executor.podTemplateFile": "executor-pod-template.yaml",
}


# --- filling the templates with submit.sh -----------------------------------------------------------------


def submit(*args: str, env: dict[str, str] | None = None, path: str | None = None) -> subprocess.CompletedProcess:
    """Run deploy/emr/submit.sh with exactly these settings in its environment."""
    environment = {"PATH": path or os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    environment.update(SETTINGS if env is None else env)
    return subprocess.run(
        ["bash", str(SUBMIT), *args], env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def filled(what: str, **overrides: str) -> dict[str, Any]:
    result = submit(what, env={**SETTINGS, **overrides})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def request(**overrides: str) -> dict[str, Any]:
    return filled("request", **overrides)


def spark_defaults(job: dict[str, Any]) -> dict[str, str]:
    (classification,) = job["configurationOverrides"]["applicationConfiguration"]
    assert classification["classification"] == "spark-defaults"
    return classification["properties"]


def submit_parameters(job: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The spark-submit parameters' --conf settings, and their --files."""
    words = shlex.split(job["jobDriver"]["sparkSubmitJobDriver"]["sparkSubmitParameters"])
    conf: dict[str, str] = {}
    files: list[str] = []
    for option, value in zip(words[::2], words[1::2], strict=True):
        if option == "--conf":
            key, _, setting = value.partition("=")
            conf[key] = setting
        else:
            assert option == "--files", f"unexpected spark-submit option {option}"
            files += value.split(",")
    return conf, files


def test_submit_fills_every_placeholder_and_refuses_to_run_with_one_unset():
    used = {name for path in TEMPLATES.values() for name in PLACEHOLDER.findall(path.read_text())}
    assert used - COMPUTED == set(SETTINGS), "the tests' settings are the templates' placeholders"
    for what in ("request", "policy", "trust-policy"):
        text = submit(what).stdout
        assert text and not PLACEHOLDER.search(text), what
    unset = {key: value for key, value in SETTINGS.items() if key != "LOG_GROUP"}
    result = submit("request", env=unset)
    assert result.returncode == 2 and not result.stdout
    assert "LOG_GROUP" in result.stderr


def test_every_placeholder_is_documented():
    section = spark_page()
    for name in set(SETTINGS) | {"CONFIG"}:
        assert f"`{name}`" in section, f"docs/spark.md does not document the placeholder {name}"


# --- the start-job-run request ----------------------------------------------------------------------------


def start_job_run_shape() -> Shape:
    model = botocore.session.get_session().get_service_model("emr-containers")
    return model.operation_model("StartJobRun").input_shape


def with_client_token(params: dict[str, Any]) -> dict[str, Any]:
    """What botocore and the AWS CLI add before validating: an idempotency token (clientToken)."""
    shape = start_job_run_shape()
    tokens = {name for name, member in shape.members.items() if member.metadata.get("idempotencyToken")}
    assert tokens == {"clientToken"}
    return {**params, "clientToken": str(uuid.uuid4())}


def constraint_errors(value: Any, shape: Shape, where: str = "") -> list[str]:
    """Length limits and patterns of the service model, which botocore's validator leaves to the service."""
    errors: list[str] = []
    if shape.type_name == "structure":
        for name, member in value.items():
            errors += constraint_errors(member, shape.members[name], f"{where}.{name}")
    elif shape.type_name == "list":
        for index, item in enumerate(value):
            errors += constraint_errors(item, shape.member, f"{where}[{index}]")
    elif shape.type_name == "map":
        for key, item in value.items():
            errors += constraint_errors(key, shape.key, f"{where} key {key}")
            errors += constraint_errors(item, shape.value, f"{where}[{key}]")
    elif shape.type_name == "string":
        low, high = shape.metadata.get("min", 0), shape.metadata.get("max", 10**9)
        if not low <= len(value) <= high:
            errors.append(f"{where}: length {len(value)} outside {low}..{high}")
        pattern = shape.metadata.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            errors.append(f"{where}: {value!r} does not match {pattern}")
    return errors


def test_the_filled_request_is_a_valid_start_job_run_input():
    job = with_client_token(request())
    report = ParamValidator().validate(job, start_job_run_shape())
    assert not report.has_errors(), report.generate_report()
    assert not constraint_errors(job, start_job_run_shape())
    # The checks are not rubber stamps: a misplaced field, a wrong type, a malformed role are caught.
    broken = json.loads(json.dumps(job))
    broken["jobDriver"]["sparkSubmitJobDriver"]["entryPointArguments"] = "--config chargeback.toml"
    broken["configurationOverrides"]["sparkDefaults"] = {}
    report = ParamValidator().validate(broken, start_job_run_shape())
    assert "entryPointArguments" in report.generate_report() and "sparkDefaults" in report.generate_report()
    assert constraint_errors({**job, "executionRoleArn": "chargeback-emr-job"}, start_job_run_shape())


def test_moto_runs_the_request_as_submitted(moto):  # noqa: F811
    emr = moto.client("emr-containers")
    provider = {"id": "prod-analytics", "type": "EKS", "info": {"eksInfo": {"namespace": SETTINGS["NAMESPACE"]}}}
    virtual_cluster_id = emr.create_virtual_cluster(name="platform", containerProvider=provider)["id"]
    job = request(VIRTUAL_CLUSTER_ID=virtual_cluster_id)
    template = json.loads((EMR / "start-job-run.json").read_text())

    started = emr.start_job_run(**job)
    run = emr.describe_job_run(id=started["id"], virtualClusterId=virtual_cluster_id)["jobRun"]

    assert run["name"] == "chargeback-build" and run["virtualClusterId"] == virtual_cluster_id
    assert run["releaseLabel"] == template["releaseLabel"] == "emr-7.13.0-latest"
    assert run["executionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{SETTINGS['JOB_ROLE']}"
    driver = run["jobDriver"]["sparkSubmitJobDriver"]
    assert driver["entryPoint"] == template["jobDriver"]["sparkSubmitJobDriver"]["entryPoint"]
    assert driver["entryPointArguments"] == ["--config", "chargeback.toml"]
    assert driver["sparkSubmitParameters"] == job["jobDriver"]["sparkSubmitJobDriver"]["sparkSubmitParameters"]
    assert spark_defaults(run) == spark_defaults(job)


# --- Spark settings -------------------------------------------------------------------------------------

# Where Spark declares its configuration keys (ConfigBuilder("spark....")): core, Kubernetes, SQL.
SPARK_CONFIG_CLASSES = (
    "org/apache/spark/internal/config/package$.class",
    "org/apache/spark/deploy/k8s/Config$.class",
    "org/apache/spark/sql/internal/SQLConf$.class",
)


# Hadoop settings passed through Spark (``spark.hadoop.<key>``): the classes declaring the keys used.
HADOOP_CONFIG_CLASSES = ("org/apache/parquet/hadoop/ParquetInputFormat.class",)


def spark_defines(keys: set[str]) -> set[str]:
    """The keys Spark's own jars declare: each key is a whole string constant of a config class (in a class
    file's constant pool, a two-byte length and the UTF-8 bytes); a ``spark.hadoop.`` key, the rest of it in
    the Hadoop class that reads it (Parquet's reader, in pyspark's jars)."""
    import pyspark  # the test extra installs it: missing, the test fails rather than skips

    classes, hadoop = [], []
    for jar in sorted((Path(pyspark.__file__).parent / "jars").glob("*.jar")):
        with zipfile.ZipFile(jar) as archive:
            classes += [archive.read(name) for name in archive.namelist() if name in SPARK_CONFIG_CLASSES]
            hadoop += [archive.read(name) for name in archive.namelist() if name in HADOOP_CONFIG_CLASSES]
    assert len(classes) == len(SPARK_CONFIG_CLASSES), "the config classes were not found in pyspark's jars"
    assert len(hadoop) == len(HADOOP_CONFIG_CLASSES), "the Hadoop config classes were not found in pyspark's jars"

    def declared(key: str) -> bool:
        found = hadoop if key.startswith("spark.hadoop.") else classes
        constant = key.removeprefix("spark.hadoop.").encode()
        return any(len(constant).to_bytes(2, "big") + constant in c for c in found)

    return {key for key in keys if declared(key)}


def test_every_spark_setting_is_a_key_spark_defines():
    job = request()
    conf, _ = submit_parameters(job)
    keys = set(spark_defaults(job)) | set(conf)
    assert set(POD_TEMPLATE_KEYS) <= set(spark_defaults(job))
    assert spark_defines(keys) == keys, f"not Spark configuration keys: {sorted(keys - spark_defines(keys))}"
    assert not spark_defines({"spark.kubernetes.driver.podTemplate"}), "the scan matches whole keys only"


def test_the_pod_templates_and_config_the_job_names_are_the_ones_submit_uploads(tmp_path):
    """`submit.sh start` (with a stand-in `aws` recording its calls) copies each file to the S3 URI the
    request names, then starts the job with the filled request."""
    log = tmp_path / "aws.log"
    fake = tmp_path / "bin" / "aws"
    fake.parent.mkdir()
    fake.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> {log}\n'
        'for arg in "$@"; do [[ $arg == file://* ]] && cp "${arg#file://}" ' + f"{tmp_path}/request.json; done\n"
        f'if [[ $1 == s3 ]]; then mkdir -p {tmp_path}/uploaded && cp "$3" "{tmp_path}/uploaded/$(basename "$4")"; fi\n'
        "if [[ $1 == emr-containers ]]; then echo 0000000000000000001; fi\n"
    )
    fake.chmod(0o755)
    config = tmp_path / "chargeback-spark.toml"
    config.write_text("# the Spark build's settings\n")

    result = submit("start", env={**SETTINGS, "CONFIG": str(config)}, path=f"{fake.parent}:{os.environ['PATH']}")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0000000000000000001"
    copies = {line.split()[-1]: line.split()[-2] for line in log.read_text().splitlines() if line.startswith("s3 cp")}
    job = json.loads((tmp_path / "request.json").read_text())
    assert job == request()
    for key, name in POD_TEMPLATE_KEYS.items():  # uploaded filled: the data volume's claim is the user's
        assert Path(copies[spark_defaults(job)[key]]).name == name
        uploaded = yaml.safe_load((tmp_path / "uploaded" / name).read_text())
        assert uploaded["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == SETTINGS["DATA_CLAIM"]
    _, files = submit_parameters(job)
    assert [copies[uri] for uri in files] == [str(config)]
    config_argument = job["jobDriver"]["sparkSubmitJobDriver"]["entryPointArguments"][1]
    assert [PurePosixPath(uri).name for uri in files] == [config_argument], "--files puts it in the driver's cwd"
    started = r"^emr-containers start-job-run --region us-east-1 --cli-input-json file://"
    assert re.search(started, log.read_text(), re.M)


def test_the_job_is_sized_with_dynamic_allocation_and_shuffle_tracking():
    job = request()
    conf, _ = submit_parameters(job)
    defaults = spark_defaults(job)
    instances, cores = int(conf["spark.executor.instances"]), int(conf["spark.executor.cores"])
    assert {"spark.driver.cores", "spark.driver.memory", "spark.executor.memory"} <= set(conf)
    assert defaults["spark.dynamicAllocation.enabled"] == "true"
    # Kubernetes has no external shuffle service: dynamic allocation needs shuffle tracking.
    assert defaults["spark.dynamicAllocation.shuffleTracking.enabled"] == "true"
    assert int(defaults["spark.dynamicAllocation.minExecutors"]) <= instances
    assert instances < int(defaults["spark.dynamicAllocation.maxExecutors"])
    assert int(defaults["spark.sql.shuffle.partitions"]) >= 2 * instances * cores, "work for every core"
    assert defaults["spark.kubernetes.container.image"] == SETTINGS["IMAGE"]


# --- pod templates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "container", "capacity"),
    [
        ("driver-pod-template.yaml", "spark-kubernetes-driver", "ON_DEMAND"),
        ("executor-pod-template.yaml", "spark-kubernetes-executor", "SPOT"),
    ],
)
def test_pod_templates_are_pods_putting_the_driver_on_demand_and_executors_on_spot(name, container, capacity):
    pod = yaml.safe_load((EMR / name).read_text())
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(pod, version, strict=True)
    assert (pod["apiVersion"], pod["kind"]) == ("v1", "Pod")
    assert pod["spec"]["nodeSelector"] == {"eks.amazonaws.com/capacityType": capacity}
    assert [c["name"] for c in pod["spec"]["containers"]] == [container]
    # the data directory: one ReadWriteMany claim, mounted where the deployment's config puts data_dir
    (volume,) = pod["spec"]["volumes"]
    assert volume["persistentVolumeClaim"] == {"claimName": "${DATA_CLAIM}"}
    (mount,) = pod["spec"]["containers"][0]["volumeMounts"]
    data_dir = config_module.load(ROOT / "deploy" / "base" / "chargeback.toml").data_dir
    assert (mount["name"], mount["mountPath"]) == (volume["name"], str(data_dir))


# --- IAM ----------------------------------------------------------------------------------------------


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
    return policy["Statement"]


def listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def granted(policy: dict[str, Any], action: str, resource: str) -> bool:
    return any(
        any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in listed(s["Action"]))
        and any(fnmatch.fnmatchcase(resource, r) for r in listed(s["Resource"]))
        for s in statements(policy)
    )


def s3_object(uri: str) -> str:
    return "arn:aws:s3:::" + uri.removeprefix("s3://")


def test_the_job_role_reads_the_raw_data_and_writes_only_its_logs():
    policy = filled("policy")
    for statement in statements(policy):
        assert set(statement) == {"Sid", "Effect", "Action", "Resource"}
        for action in listed(statement["Action"]):
            assert "*" not in action, f"{statement['Sid']}: no wildcard actions"
            assert action.split(":")[0] in {"s3", "logs"}, f"{statement['Sid']}: {action}"
        assert "*" not in listed(statement["Resource"]), f"{statement['Sid']}: no unscoped resources"
    data, job_bucket = SETTINGS["DATA_BUCKET"], SETTINGS["JOB_BUCKET"]
    raw = f"arn:aws:s3:::{data}/{SETTINGS['RAW_PREFIX']}/prometheus/pod_hours/day=2026-10-01/data.parquet"
    cur = f"arn:aws:s3:::{data}/{SETTINGS['RAW_PREFIX']}/cur/line_items/billing_period=2026-10/data.parquet"
    for source in (raw, cur):
        assert granted(policy, "s3:GetObject", source)
    assert granted(policy, "s3:ListBucket", f"arn:aws:s3:::{data}")
    # the marts and the warehouse go to the shared volume: no S3 write beyond the job's logs
    writes = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
    for resource in (raw, f"arn:aws:s3:::{data}/anything", f"arn:aws:s3:::{job_bucket}/{SETTINGS['JOB_PREFIX']}/x"):
        assert not any(granted(policy, write, resource) for write in writes), resource
    assert not granted(policy, "s3:GetObject", "arn:aws:s3:::acme-cur/exports/cur2/data.parquet")

    # ... and reaches exactly what the filled request names: its job files, its S3 logs and log group.
    job = request()
    _, files = submit_parameters(job)
    for uri in [*files, *(spark_defaults(job)[key] for key in POD_TEMPLATE_KEYS)]:
        assert granted(policy, "s3:GetObject", s3_object(uri)), uri
    monitoring = job["configurationOverrides"]["monitoringConfiguration"]
    log_uri = monitoring["s3MonitoringConfiguration"]["logUri"]
    assert granted(policy, "s3:PutObject", s3_object(log_uri) + "vc/jobs/1/containers/driver/stderr.gz")
    cloudwatch = monitoring["cloudWatchMonitoringConfiguration"]
    group = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{cloudwatch['logGroupName']}"
    stream = f"{group}:log-stream:{cloudwatch['logStreamNamePrefix']}/vc/jobs/1/containers/driver/stderr"
    assert granted(policy, "logs:CreateLogStream", f"{group}:*")
    assert granted(policy, "logs:PutLogEvents", stream)
    assert not granted(policy, "logs:PutLogEvents", f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:other:log-stream:x")


def base36(name: str) -> str:
    """AWS CLI's encoding of a role name in EMR on EKS service account names, computed apart from submit.sh."""
    number, digits = int.from_bytes(name.encode(), "big"), ""
    while number:
        number, remainder = divmod(number, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[remainder] + digits
    return digits or "0"


def test_the_trust_policy_lets_only_the_job_s_emr_service_accounts_assume_the_role():
    assert base36("emr") == "3ygz6"  # 0x656d72 = 6,647,154 = 3·36⁴ + 34·36³ + 16·36² + 35·36 + 6, by hand
    (statement,) = statements(filled("trust-policy"))
    provider = SETTINGS["OIDC_PROVIDER"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}"}
    (condition,) = statement["Condition"].values()
    assert list(statement["Condition"]) == ["StringLike"]
    pattern = condition[f"{provider}:sub"]

    def service_account(namespace: str = SETTINGS["NAMESPACE"], role: str = SETTINGS["JOB_ROLE"]) -> str:
        return f"system:serviceaccount:{namespace}:emr-containers-sa-spark-driver-{ACCOUNT}-{base36(role)}"

    assert fnmatch.fnmatchcase(service_account(), pattern)
    assert not fnmatch.fnmatchcase(service_account(namespace="emr-data-eng"), pattern)
    assert not fnmatch.fnmatchcase(service_account(role="another-role"), pattern)
    assert not fnmatch.fnmatchcase(f"system:serviceaccount:{SETTINGS['NAMESPACE']}:default", pattern)


# --- the entry point ------------------------------------------------------------------------------------


def run_entrypoint(monkeypatch: pytest.MonkeyPatch, *arguments: str) -> int:
    monkeypatch.setattr(sys, "argv", [str(ENTRYPOINT), *arguments])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(ENTRYPOINT), run_name="__main__")
    return exited.value.code


def test_the_entry_point_runs_chargeback_build_on_spark_with_the_job_s_arguments(monkeypatch):
    seen: list[list[str]] = []

    def app() -> None:  # stands in for the Typer app, which reads sys.argv
        seen.append(list(sys.argv[1:]))
        raise SystemExit(1)  # what Click's standalone mode does when the build fails

    monkeypatch.setattr(chargeback.cli, "app", app)
    assert run_entrypoint(monkeypatch, "--config", "chargeback.toml") == 1
    assert seen == [["build", "--engine", "spark", "--config", "chargeback.toml"]]

    def app_with_a_bad_config() -> None:
        raise ConfigError("chargeback.toml: configuration file not found")

    monkeypatch.setattr(chargeback.cli, "app", app_with_a_bad_config)
    assert run_entrypoint(monkeypatch, "--config", "chargeback.toml") == 2, "the CLI's own error handling"


def test_the_entry_point_reaches_the_real_build_command_with_the_spark_engine():
    """Through the real CLI: `build --engine spark --help`. Until the Spark engine lands, the build command
    has no --engine and Click names it as unknown; then, the help lists it."""
    result = subprocess.run(
        [sys.executable, str(ENTRYPOINT), "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    group = typer.main.get_command(chargeback.cli.app)
    build = group.get_command(click.Context(group), "build")
    if "engine" in {param.name for param in build.params}:
        assert result.returncode == 0, result.stderr
        assert "--engine" in result.stdout and "--config" in result.stdout
    else:
        assert result.returncode == 2, result.stdout
        assert "No such option: --engine" in result.stderr


# --- the image --------------------------------------------------------------------------------------------

DOCKERFILE = EMR / "Dockerfile"


def test_the_image_is_emr_on_eks_spark_of_the_job_s_release_and_runs_as_hadoop():
    instructions = dockerfile(DOCKERFILE)
    defaults = dict(arg.split("=", 1) for keyword, arg in instructions if keyword == "ARG" and "=" in arg)
    (base,) = [arg for keyword, arg in instructions if keyword == "FROM"]
    image = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], base)
    match = re.fullmatch(r"public\.ecr\.aws/emr-on-eks/spark/(emr-\d+\.\d+\.\d+):latest", image)
    assert match, image
    assert json.loads((EMR / "start-job-run.json").read_text())["releaseLabel"] == f"{match.group(1)}-latest"
    users = [(index, arg) for index, (keyword, arg) in enumerate(instructions) if keyword == "USER"]
    assert users[0][1] == "root" and users[-1][1] == "hadoop:hadoop", users
    runs = [index for index, (keyword, _) in enumerate(instructions) if keyword == "RUN"]
    assert all(users[0][0] < run < users[-1][0] for run in runs), "installs as root, then back to hadoop"


def test_the_image_installs_chargeback_with_its_spark_extra_where_the_job_looks():
    instructions = dockerfile(DOCKERFILE)
    (install,) = [arg for keyword, arg in instructions if keyword == "RUN" and "pip install" in arg]
    assert re.search(r"/opt/chargeback/venv/bin/pip install [^&]*'/opt/chargeback/src\[spark\]'", install)
    assert "python3.11 -m venv /opt/chargeback/venv" in install
    assert "[test]" not in install and " -e " not in install
    job = json.loads((EMR / "start-job-run.json").read_text())
    assert spark_defaults(job)["spark.pyspark.python"] == "/opt/chargeback/venv/bin/python"
    entry_point = job["jobDriver"]["sparkSubmitJobDriver"]["entryPoint"]
    assert ("COPY", f"deploy/emr/entrypoint.py {entry_point.removeprefix('local://')}") in instructions


def test_every_copy_source_is_in_the_image_s_build_context():
    ignore_file = EMR / "Dockerfile.dockerignore"  # BuildKit's <Dockerfile>.dockerignore, over the root one
    sources = [
        source
        for keyword, arg in dockerfile(DOCKERFILE)
        if keyword == "COPY" and not arg.startswith("--from")
        for source in arg.split()[:-1]
    ]
    assert "deploy/emr/entrypoint.py" in sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not dockerignored(source, ignore_file), f"COPY {source}: left out of the context"
    for package in ("chargeback", "collectors", "dashboards"):
        for file in (ROOT / package).rglob("*.py"):
            assert not dockerignored(file.relative_to(ROOT).as_posix(), ignore_file), file
    for kept_out in (".venv/bin/python", "data/warehouse.duckdb", ".git/config", "tests/test_emr_job.py"):
        assert dockerignored(kept_out, ignore_file), kept_out
    assert dockerignored("deploy/emr/entrypoint.py"), "the root .dockerignore would leave it out"


# --- the Spark page (docs/spark.md) ----------------------------------------------------------------


def spark_page() -> str:
    return (ROOT / "docs" / "spark.md").read_text()


def test_the_docs_say_when_to_switch_and_walk_through_building_submitting_and_sizing():
    section = spark_page()
    for needed in [
        "When to switch",
        "Try it on October first",
        "**Scale note.**",
        "docker build --platform linux/amd64 -f deploy/emr/Dockerfile",
        "docker push",
        "update-role-trust-policy",
        "submit.sh trust-policy",
        "submit.sh policy",
        "submit.sh start",
        "describe-job-run",
        "Sizing the job",
        "spark.sql.shuffle.partitions",
        "How the build spreads over executors",
    ]:
        assert needed in section, f"docs/spark.md does not mention {needed!r}"
    for file in (f for f in EMR.iterdir() if f.is_file()):
        assert f"`{file.name}`" in section or file.name in section, f"deploy/emr/{file.name} is not described"
