"""What the Spark build's tests share (tests/test_spark_build.py: parity on the sample month;
tests/test_spark_engine.py: the engine's failures, S3 and the value rules): one SparkSession per test process
(local[2], Java from the machine) and moto's S3: the fixtures ``spark`` and ``moto_s3`` in tests/conftest.py,
session-scoped, so the two modules share them when they run in the same process.

The session is created with the s3a connector on its classpath and pointed at moto's server, since a session's
jars and Hadoop settings are fixed when it starts: hadoop-aws and the AWS SDK bundle come from the
`sagemaker-pyspark` package on PyPI (Maven Central is out of reach here), whose hadoop-aws 3.3.1 predates
pyspark's Hadoop 3.5 client; the settings below are what it needs on that client (plain numbers where Hadoop
3.5's defaults say "60s", and its SDK v1 credentials provider).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chargeback.build.demo import sample_data_dir
from chargeback.core import config as config_module

PERIOD = "2026-10"
BUCKET = "chargeback-raw"
S3A_COMPATIBILITY = {
    "spark.hadoop.fs.s3a.path.style.access": "true",
    "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
    "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
    "spark.hadoop.fs.s3a.access.key": "testing",
    "spark.hadoop.fs.s3a.secret.key": "testing",
    "spark.hadoop.fs.s3a.threads.keepalivetime": "60",
    "spark.hadoop.fs.s3a.connection.establish.timeout": "5000",
    "spark.hadoop.fs.s3a.connection.timeout": "200000",
    "spark.hadoop.fs.s3a.connection.ttl": "300000",
    "spark.hadoop.fs.s3a.multipart.purge.age": "86400",
}


def s3a_jars() -> list[str]:
    try:
        import sagemaker_pyspark
    except ImportError:
        pytest.fail("the s3a jars are missing: pip install --no-deps sagemaker-pyspark (see the README's test command)")
    return [j for j in sagemaker_pyspark.classpath_jars() if "/hadoop-aws-" in j or "/aws-java-sdk-bundle-" in j]


def sample_config(data_dir: Path, **build: object) -> config_module.Config:
    config = config_module.load(sample_data_dir() / "chargeback.toml").model_copy(update={"data_dir": data_dir})
    return config.model_copy(update={"build": config.build.model_copy(update=build)})


def with_sample_raw(data_dir: Path) -> Path:
    shutil.copytree(sample_data_dir() / "raw", data_dir / "raw")
    return data_dir


def bill_json(data_dir: Path, period: str = PERIOD) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "chargeback", "bill", "--period", period, "--format", "json", "--data-dir",
         str(data_dir)],
        capture_output=True, text=True, timeout=120, cwd=data_dir,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
