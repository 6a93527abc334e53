"""compact.py, the Spark engine of a table partition's compaction, in local mode: lakeline plans
the rewrite (`lakeline table rewrite-plan`, the compact function's `planRewrite`), the job merges
the planned files, and lakeline checks and commits what it wrote (`lakeline table rewrite-commit`,
the compact function's `commitRewrite`): one `replace` snapshot, every row kept, value for value.
No Iceberg runtime for Spark can be installed here; the job needs none (it reads and writes
plain Parquet by field id), and the commit is lakeline's. On AWS the same plan travels through
S3 and Glue or EMR Serverless runs the same job (proven on AWS only)."""

import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import compact
from conftest import REAL_REGISTRY, REPO
from test_differential import BIN, SKIP, sortable

pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")

KEYS = [f"raw/orders/dt=2026-11-25/part-{i}.csv" for i in range(6)]


def lakeline(*args, ok=True):
    r = subprocess.run([BIN, *args, "--config", REAL_REGISTRY], capture_output=True, text=True, cwd=REPO)
    if ok:
        assert r.returncode == 0, f"lakeline {' '.join(args)} failed ({r.returncode}): {r.stdout}\n{r.stderr}"
    return r


def show(wh):
    return json.loads(lakeline("table", "show", "--dataset", "orders", "--warehouse", str(wh), "--json").stdout)


def table_rows(wh):
    """Every row of the table's live files, read with pyarrow, sorted."""
    files = [f["path"].removeprefix("file://") for f in show(wh)["files"]]
    return sortable(pa.concat_tables([pq.read_table(p) for p in files]).to_pylist())


def small_table(tmp_path):
    """The orders table with six small files in one partition, from slices of the sample."""
    wh = tmp_path / "wh"
    lines = (REPO / "samples/orders/good.csv").read_text(encoding="utf-8").splitlines()
    header, body = lines[0], lines[1:]
    for i, key in enumerate(KEYS):
        f = tmp_path / f"part-{i}.csv"
        f.write_text("\n".join([header, *body[3 * i:3 * i + 3]]) + "\n", encoding="utf-8")
        lakeline("table", "append", str(f), "--dataset", "orders", "--key", key, "--warehouse", str(wh))
    return wh


def plan(wh, out):
    got = json.loads(lakeline("table", "rewrite-plan", "--dataset", "orders", "--warehouse", str(wh),
                              "--out", str(out), "--include-open").stdout)
    assert got["status"] == "PLANNED", got
    return got


def test_a_partition_merged_by_spark_commits_as_one_replace_with_every_row(spark, tmp_path):
    wh = small_table(tmp_path)
    before = show(wh)
    rows = table_rows(wh)
    assert (before["data_files"], before["rows"]) == (6, 18)

    planned = plan(wh, tmp_path / "rw")
    assert len(planned["inputs"]) == 6 and planned["rows"] == 18 and planned["output_files"] == 1
    # The schema Spark reads and writes in carries the table's field ids.
    ids = {c["name"]: c["id"] for c in before["columns"]}
    assert {f["name"]: f["metadata"]["parquet.field.id"] for f in planned["spark_schema"]["fields"]} == ids

    summary = compact.run(spark, compact.load_plan(planned["plan"]))
    assert summary["inputs"] == 6
    written = sorted(Path(planned["output"]).glob("*.parquet"))
    assert written, "the job wrote its files into the plan's output folder"
    schema = pq.ParquetFile(written[0]).schema_arrow
    assert {f.name: int(f.metadata[b"PARQUET:field_id"]) for f in schema} == ids

    out = json.loads(lakeline("table", "rewrite-commit", planned["plan"], "--dataset", "orders",
                              "--warehouse", str(wh), "--engine", "glue").stdout)
    assert out["status"] == "COMPACTED" and out["files_in"] == 6, out
    after = show(wh)
    assert after["data_files"] == len(written) < 6
    last = after["snapshots"][-1]
    assert (last["operation"], last["snapshot_id"]) == ("replace", out["snapshot_id"]), last
    assert table_rows(wh) == rows, "every row once, value for value"
    # The committed files are copies in the table's location, not the job's output.
    assert all(f["path"].startswith(f"file://{wh}") for f in after["files"])
    # A retried commit (the first went through) answers with the same snapshot, adds nothing.
    again = json.loads(lakeline("table", "rewrite-commit", planned["plan"], "--dataset", "orders",
                                "--warehouse", str(wh), "--engine", "glue").stdout)
    assert again["snapshot_id"] == out["snapshot_id"], again
    assert show(wh)["snapshots"] == after["snapshots"]


def test_a_rewrite_that_lost_rows_or_an_input_commits_nothing(spark, tmp_path):
    wh = small_table(tmp_path)
    rows = table_rows(wh)
    planned = plan(wh, tmp_path / "rw")
    compact.run(spark, compact.load_plan(planned["plan"]))
    written = sorted(Path(planned["output"]).glob("*.parquet"))

    # One row short: refused, nothing committed.
    full = pq.read_table(written[0])
    pq.write_table(full.slice(1), written[0])
    r = lakeline("table", "rewrite-commit", planned["plan"], "--dataset", "orders", "--warehouse", str(wh), ok=False)
    assert r.returncode == 2 and "wrote 17 rows for the plan's 18" in r.stderr, r.stderr
    assert show(wh)["data_files"] == 6 and table_rows(wh) == rows

    # Whole again, but a new version of one planned key was committed meanwhile: its old file
    # is no longer in the table, so the swap would resurrect replaced rows. Refused.
    pq.write_table(full, written[0])
    f = tmp_path / "again.csv"
    f.write_text("order_id,customer,amount,currency,order_date,created_at,gift\n"
                 "999,New,1.00,EUR,2026-11-25,2026-11-25T10:00:00Z,false\n", encoding="utf-8")
    lakeline("table", "append", str(f), "--dataset", "orders", "--key", KEYS[0], "--warehouse", str(wh))
    r = lakeline("table", "rewrite-commit", planned["plan"], "--dataset", "orders", "--warehouse", str(wh), ok=False)
    assert r.returncode == 2 and "was replaced by another commit" in r.stderr, r.stderr
    assert show(wh)["snapshots"][-1]["operation"] != "replace"


def test_the_job_refuses_a_plan_it_does_not_know(tmp_path):
    p = tmp_path / "plan.json"
    p.write_text(json.dumps({"version": 2, "id": "x"}), encoding="utf-8")
    with pytest.raises(compact.JobError, match="plan version 2"):
        compact.load_plan(str(p))
    p.write_text(json.dumps({"version": 1, "id": "x", "inputs": []}), encoding="utf-8")
    with pytest.raises(compact.JobError, match="no output"):
        compact.load_plan(str(p))
