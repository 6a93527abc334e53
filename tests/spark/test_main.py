"""curate.py as Glue and EMR start it: `python jobs/curate.py ARGS` in a fresh interpreter, the
job module as __main__ (so Spark ships the CSV parser to its Python worker by value, not by
module name), its own SparkSession, the JSON summary on stdout, and a failure that exits
non-zero with the message."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import JOBS, REAL_REGISTRY, REPO, put


def run_job(job, *args):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing but the script itself
    env["PYSPARK_SUBMIT_ARGS"] = "--master local[1] --conf spark.ui.enabled=false --conf spark.driver.host=127.0.0.1 --driver-java-options -XX:TieredStopAtLevel=1 pyspark-shell"
    return subprocess.run([sys.executable, str(JOBS / job), *args], capture_output=True, text=True, env=env, cwd="/")


def test_curate_as_a_script(lake):
    """One fresh JVM costs half a minute here, so one run: the CSV path (the parser shipped by
    value from __main__, Arrow transfer), Glue's argument style with Glue's own mixed in."""
    key = "raw/orders/dt=2026-11-25/good.csv"
    put(lake, key, (REPO / "samples/orders/good.csv").read_bytes())
    r = run_job("curate.py", "--JOB_NAME", "lakeline-orders-curate", "--lakeline_source", str(Path(lake) / key),
                "--lakeline_target", str(Path(lake) / "curated/orders/dt=2026-11-25/"), "--lakeline_dataset", "orders",
                "--lakeline_execution", "exec-1", "--lakeline_run_key", "rk", "--job-bookmark-option", "job-bookmark-disable",
                "--lake-root", str(lake), "--lakeline_registry", REAL_REGISTRY)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["rows"] == 20 and len(summary["outputs"]) == 1 and summary["dataset"] == "orders"


def test_usage_errors_exit_non_zero_before_spark_starts():
    r = run_job("curate.py", "--lakeline_target", "s3://lake/curated/")
    assert r.returncode == 2 and "--lakeline_source" in r.stderr
