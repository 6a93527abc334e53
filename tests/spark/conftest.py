"""Fixtures of the Spark job tests: one local Spark session for the whole run (starting the JVM
costs seconds, a test should not), and a lake folder per test standing in for the bucket, so
curate.py runs its S3 code paths (keys, listing, copy, delete) on local files."""

import os
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
JOBS = REPO / "jobs"

# Spark's Python workers must find the job module and use this interpreter (the venv's), not
# whatever `python3` is first on PATH.
os.environ["PYSPARK_PYTHON"] = sys.executable
os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
os.environ["PYTHONPATH"] = os.pathsep.join([str(JOBS), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
if str(JOBS) not in sys.path:
    sys.path.insert(0, str(JOBS))


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    s = (
        SparkSession.builder.master("local[1]")
        .appName("lakeline-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.sources.parallelPartitionDiscovery.parallelism", "1")
        .config("spark.python.worker.reuse", "true")
        # Short runs: the C1 compiler alone warms up in half the time; one small heap.
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("OFF")
    yield s
    s.stop()


@pytest.fixture
def lake(tmp_path):
    """The folder standing in for the lake bucket."""
    root = tmp_path / "lake"
    root.mkdir()
    return root


def put(lake, key, data):
    """Writes an object of the test lake; returns its path."""
    p = Path(lake) / key
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return p


def registry_file(tmp_path, datasets_yaml):
    """A registry holding the given `datasets:` entries (YAML text, indented as under datasets)."""
    p = Path(tmp_path) / "registry.yaml"
    p.write_text("version: 1\ndatasets:\n" + textwrap.indent(textwrap.dedent(datasets_yaml), "  "), encoding="utf-8")
    return str(p)


REAL_REGISTRY = str(REPO / "config" / "datasets.yaml")
