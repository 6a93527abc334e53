"""Spark lands in the datasets' Iceberg tables through lakeline's committer (issue: one
committer, one exactly-once rule). curate.py in table mode writes data files carrying the
table's field ids and the delivery's lineage columns under `_lakeline/staging/tables/`;
`lakeline table add-files` checks them against the table, copies them into the table's
location and commits them as one delivery; the table's files, read back, hold exactly the rows
the Rust engine (`lakeline curate`, the Lambda's) makes of the same file, value for value.
No Iceberg runtime for Spark can be installed here, so this is the whole Spark side of a table
write; on AWS the pipeline's committer runs the same check and commit (proven on AWS only)."""

import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import curate
from conftest import REAL_REGISTRY, REPO, put
from test_differential import BIN, SKIP, rust_curate, sortable

pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")

LINEAGE = ("_lakeline_source", "_lakeline_version", "_lakeline_date")


def lakeline(*args, ok=True):
    r = subprocess.run([BIN, *args, "--config", REAL_REGISTRY], capture_output=True, text=True, cwd=REPO)
    if ok:
        assert r.returncode == 0, f"lakeline {' '.join(args)} failed ({r.returncode}): {r.stdout}\n{r.stderr}"
    return r


def show(dataset, wh):
    return json.loads(lakeline("table", "show", "--dataset", dataset, "--warehouse", str(wh), "--json").stdout)


@pytest.mark.parametrize("dataset,key,version,want", [
    ("orders", "raw/orders/dt=2026-11-25/good.csv", "v1", "_lakeline/staging/tables/orders/good-75e70125da91/v1/"),
    ("orders", "raw/orders/dt=2026-11-25/good.csv", '"3858f62230ac3c91"/x y',
     "_lakeline/staging/tables/orders/good-75e70125da91/_3858f62230ac3c91__x_y/"),
])
def test_staged_prefix_is_the_commit_steps(dataset, key, version, want):
    """The same vectors as lakeline_core::curate's staged_prefixes_table."""
    assert curate.staged_prefix(dataset, key, version) == want


def stage(spark, lake, key, dataset, fields, version):
    args = curate.parse_args([
        "--source", str(Path(lake) / key), "--lake-root", str(lake), "--registry", REAL_REGISTRY,
        "--dataset", dataset, "--lakeline_table_fields", json.dumps(fields), "--lakeline_version", version,
    ])
    return curate.run(spark, args)


@pytest.mark.parametrize("dataset,sample", [
    ("orders", "orders/good.csv"),
    ("clicks", "clicks/good.jsonl"),
    ("inventory", "inventory/good.parquet"),
])
def test_spark_data_files_commit_through_lakelines_committer(spark, lake, tmp_path, dataset, sample):
    wh = tmp_path / "wh"
    lakeline("table", "sync", "--dataset", dataset, "--warehouse", str(wh))
    fields = {c["name"]: c["id"] for c in show(dataset, wh)["columns"]}
    key = f"raw/{dataset}/dt=2026-11-25/{Path(sample).name}"
    put(lake, key, (REPO / "samples" / sample).read_bytes())

    summary = stage(spark, lake, key, dataset, fields, "v1")
    staged = summary["staged"]
    assert staged and all(f"_lakeline/staging/tables/{dataset}/" in s for s in staged)
    # The files carry the table's ids, the lineage of the delivery, and nothing under curated/.
    schema = pq.ParquetFile(staged[0]).schema_arrow
    assert {f.name: int(f.metadata[b"PARQUET:field_id"]) for f in schema} == {n: fields[n] for n in schema.names}
    assert not (Path(lake) / "curated").exists()

    out = lakeline("table", "add-files", *staged, "--dataset", dataset, "--key", key, "--version", "v1", "--warehouse", str(wh))
    outcome = json.loads(out.stdout)
    assert outcome["outcome"] == "committed" and outcome["added_rows"] == summary["rows"], outcome

    view = show(dataset, wh)
    assert view["rows"] == summary["rows"]
    assert [(s["operation"], s["sources"], s["engine"]) for s in view["snapshots"]] == [("append", [key], "spark")]
    # The committed files are copies in the table's own location, not the staged ones.
    paths = [f["path"] for f in view["files"]]
    assert all(p.startswith(f"file://{wh}") and "/data/_lakeline_date=2026-11-25/" in p for p in paths)
    got = pa.concat_tables([pq.read_table(p.removeprefix("file://")) for p in paths])
    assert set(got.column("_lakeline_source").to_pylist()) == {key}
    assert set(got.column("_lakeline_version").to_pylist()) == {"v1"}
    rust = rust_curate(Path(lake) / key, dataset, key, REAL_REGISTRY, tmp_path / "rust.parquet")
    rows = got.drop_columns(list(LINEAGE)).cast(rust.schema).to_pylist()
    assert sortable(rows) == sortable(rust.to_pylist())

    # The same files again: the table already holds the delivery, nothing is added.
    again = json.loads(lakeline("table", "add-files", *staged, "--dataset", dataset, "--key", key, "--version", "v1",
                                "--warehouse", str(wh)).stdout)
    assert again["outcome"] == "already_committed", again
    assert len(show(dataset, wh)["snapshots"]) == 1


def test_files_that_do_not_fit_the_table_commit_nothing(spark, lake, tmp_path):
    wh = tmp_path / "wh"
    lakeline("table", "sync", "--dataset", "orders", "--warehouse", str(wh))
    fields = {c["name"]: c["id"] for c in show("orders", wh)["columns"]}
    key = "raw/orders/dt=2026-11-25/good.csv"
    put(lake, key, (REPO / "samples/orders/good.csv").read_bytes())
    staged = stage(spark, lake, key, "orders", fields, "v1")["staged"]

    # Another version than the files hold.
    r = lakeline("table", "add-files", *staged, "--dataset", "orders", "--key", key, "--version", "v2",
                 "--warehouse", str(wh), ok=False)
    assert r.returncode == 2 and '_lakeline_version must be "v2"' in r.stderr, r.stderr
    # Plain curated Parquet (no field ids, no lineage).
    plain = tmp_path / "plain.parquet"
    rust_curate(Path(lake) / key, "orders", key, REAL_REGISTRY, plain)
    r = lakeline("table", "add-files", str(plain), "--dataset", "orders", "--key", key, "--version", "v1",
                 "--warehouse", str(wh), ok=False)
    assert r.returncode == 2 and "has no Iceberg field id" in r.stderr, r.stderr
    assert show("orders", wh)["snapshots"] == []
