"""compact.py in local mode: the commit protocol (manifest, outputs, commit, conditional input
deletes, manifest gone), its recovery after a crash at each step (simulated by running the
steps one by one and stopping), schema drift refused, and files written by either engine
merged as one schema."""

import datetime as dt
import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import compact
from conftest import REAL_REGISTRY

UTC = dt.timezone.utc
PREFIX = "curated/orders/dt=2026-11-25/"


def _registry_amount():
    """(precision, scale) of the real registry's orders.amount when it is a decimal (money
    exact), else None (a float): the curated schema follows the registry."""
    orders = compact.dataset_from_registry(compact.load_registry(REAL_REGISTRY), "orders")
    return compact.decimal_params(next(c.type for c in orders.columns if c.name == "amount"))


AMOUNT_DECIMAL = _registry_amount()


def money(x):
    return Decimal(str(x)) if AMOUNT_DECIMAL else x


# The curated orders schema as the Rust engine writes it (arrow-rs: Timestamp(us, "+00:00"),
# Decimal128 for a decimal, non-nullable required columns).
ORDERS = pa.schema([
    pa.field("order_id", pa.int64(), nullable=False),
    pa.field("customer", pa.string(), nullable=False),
    pa.field("amount", pa.decimal128(*AMOUNT_DECIMAL) if AMOUNT_DECIMAL else pa.float64(), nullable=False),
    pa.field("currency", pa.string()),
    pa.field("order_date", pa.date32(), nullable=False),
    pa.field("created_at", pa.timestamp("us", tz="+00:00"), nullable=False),
    pa.field("gift", pa.bool_()),
])


def orders_rows(start, n):
    return [
        {
            "order_id": i, "customer": f"c{i} é", "amount": money(i + 0.5), "currency": None if i % 3 else "EUR",
            "order_date": dt.date(2026, 11, 25), "created_at": dt.datetime(2026, 11, 25, 10, tzinfo=UTC) + dt.timedelta(seconds=i),
            "gift": None if i % 4 == 0 else bool(i % 2),
        }
        for i in range(start, start + n)
    ]


def write_file(lake, name, rows, schema=ORDERS, prefix=PREFIX):
    p = Path(lake) / prefix / name
    p.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), p, compression="zstd")
    return p


def small_partition(lake, files=6, per_file=5):
    expected = []
    for f in range(files):
        rows = orders_rows(f * 100, per_file)
        write_file(lake, f"part{f}-abc.parquet", rows)
        expected += rows
    # side files a partition may hold: never inputs
    (Path(lake) / PREFIX / "_lakeline_compaction.json").write_text("{}")
    (Path(lake) / PREFIX / ".part0.crc").write_text("x")
    return expected


def args_for(lake, *extra):
    return compact.parse_args(["--input", str(Path(lake) / PREFIX), "--lake-root", str(lake), "--registry", REAL_REGISTRY, *extra])


def partition_state(lake):
    folder = Path(lake) / PREFIX
    data = sorted(p.name for p in folder.iterdir() if compact.is_input_name(p.name))
    manifests = sorted(str(p.relative_to(lake)) for p in (Path(lake) / "_lakeline/compaction").rglob("*.json")) if (Path(lake) / "_lakeline/compaction").exists() else []
    return data, manifests


def all_rows(lake):
    folder = Path(lake) / PREFIX
    tables = [pq.read_table(p) for p in sorted(folder.iterdir()) if compact.is_input_name(p.name)]
    rows = pa.concat_tables([t.cast(tables[0].schema) for t in tables]).to_pylist()
    return sorted(rows, key=lambda r: r["order_id"])


def norm(rows):
    return sorted(rows, key=lambda r: r["order_id"])


def test_merges_into_the_planned_files_and_removes_inputs(spark, lake):
    expected = small_partition(lake)
    inputs = compact.list_inputs(compact.resolve(args_for(lake))[0])
    assert [Path(o.key).name for o in inputs] == [f"part{f}-abc.parquet" for f in range(6)]
    group = hashlib.sha256("".join(sorted(f"{o.key}\t{o.etag}\n" for o in inputs)).encode()).hexdigest()[:16]

    summary = compact.run(spark, args_for(lake, "--output-files", "2"))
    assert summary["done"] == "compacted" and summary["group"] == group and summary["rows"] == 30
    assert summary["dataset"] == "orders"
    data, manifests = partition_state(lake)
    assert data == [f"compacted-{group}-00000.parquet", f"compacted-{group}-00001.parquet"]
    assert manifests == []
    assert all_rows(lake) == norm(expected)
    # The Rust engine's schema survives: REQUIRED stays REQUIRED, timestamps stay UTC micros.
    pf = pq.ParquetFile(Path(lake) / PREFIX / data[0])
    assert [pf.schema.column(i).max_definition_level for i in range(7)] == [0, 0, 0, 1, 0, 0, 1]
    assert pf.schema_arrow.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert pf.metadata.row_group(0).column(0).compression == "ZSTD"
    assert (Path(lake) / PREFIX / "_lakeline_compaction.json").exists()  # side files untouched

    # A second run finds nothing worth merging (2 files would stay 2).
    again = compact.run(spark, args_for(lake, "--output-files", "2"))
    assert again["done"].startswith("nothing to merge") and partition_state(lake)[0] == data


def test_output_count_from_the_target_size_and_explicit_inputs(spark, lake):
    expected = small_partition(lake, files=4)
    keys = ",".join(f"{PREFIX}part{f}-abc.parquet" for f in (1, 2, 3))
    args = compact.parse_args(["--input", str(Path(lake) / PREFIX), "--inputs", keys, "--lake-root", str(lake), "--dataset", "orders", "--target-file-size", "1MiB"])
    summary = compact.run(spark, args)
    assert summary["partition"].endswith(PREFIX) and summary["inputs"] == 3 and len(summary["outputs"]) == 1
    data, _ = partition_state(lake)
    assert len(data) == 2 and "part0-abc.parquet" in data
    assert all_rows(lake) == norm(expected)


def test_crash_after_the_writing_manifest_is_rolled_back_and_redone(spark, lake):
    expected = small_partition(lake)
    part, _ = compact.resolve(args_for(lake))
    p = compact.plan(spark, part, compact.list_inputs(part), output_files=2)
    compact.step_begin(part, p)
    compact.step_write(spark, part, p)  # outputs exist, inputs too: the job dies here
    data, manifests = partition_state(lake)
    assert len(data) == 8 and manifests == [p.key]
    assert json.loads((Path(lake) / p.key).read_text())["state"] == "writing"

    summary = compact.run(spark, args_for(lake, "--output-files", "2"))
    assert summary["recovered"] == [f"{p.manifest['group']}: rolled back"]
    data, manifests = partition_state(lake)
    assert len(data) == 2 and manifests == []
    assert all_rows(lake) == norm(expected)


def test_crash_after_commit_finishes_the_deletes(spark, lake):
    expected = small_partition(lake)
    part, _ = compact.resolve(args_for(lake))
    p = compact.plan(spark, part, compact.list_inputs(part), output_files=2)
    compact.step_begin(part, p)
    compact.step_write(spark, part, p)
    compact.step_commit(part, p)
    # The job dies while deleting inputs: two are gone, four remain.
    for i in p.manifest["inputs"][:2]:
        part.storage.delete(i["key"])
    m = json.loads((Path(lake) / p.key).read_text())
    assert m["state"] == "committed" and m["rows_in"] == 30 and len(m["outputs"]) == 2
    assert set(m) == {"version", "dataset", "partition", "group", "inputs", "outputs", "rows_in", "state"}
    assert m["dataset"] == "orders" and m["partition"] == "dt=2026-11-25" and p.key == f"_lakeline/compaction/orders/dt=2026-11-25/{m['group']}.json"

    summary = compact.run(spark, args_for(lake, "--output-files", "2"))
    assert summary["recovered"] == [f"{p.manifest['group']}: finished"]
    assert summary["done"].startswith("nothing to merge")
    data, manifests = partition_state(lake)
    assert data == [Path(k).name for k in m["outputs"]] and manifests == []
    assert all_rows(lake) == norm(expected)  # every row once


def test_a_replaced_input_is_not_deleted(spark, lake):
    small_partition(lake, files=3)
    part, _ = compact.resolve(args_for(lake))
    p = compact.plan(spark, part, compact.list_inputs(part), output_files=1)
    compact.step_begin(part, p)
    compact.step_write(spark, part, p)
    compact.step_commit(part, p)
    write_file(lake, "part1-abc.parquet", orders_rows(900, 2))  # a newer upload, same name
    kept = compact.step_delete_inputs(part, p.manifest)
    compact.step_finish(part, p.manifest)
    assert kept == [f"{PREFIX}part1-abc.parquet"]
    data, manifests = partition_state(lake)
    assert sorted(data) == sorted([Path(p.manifest["outputs"][0]).name, "part1-abc.parquet"]) and manifests == []


def test_row_count_mismatch_rolls_back(spark, lake):
    small_partition(lake, files=3)
    before = partition_state(lake)
    part, _ = compact.resolve(args_for(lake))
    p = compact.plan(spark, part, compact.list_inputs(part), output_files=1)
    p.manifest["rows_in"] += 1  # as if a file changed between the count and the read
    compact.step_begin(part, p)
    with pytest.raises(compact.JobError, match=r"wrote 15 rows from 16 input rows; rolled back"):
        compact.step_write(spark, part, p)
    assert partition_state(lake) == before


def test_schema_drift_is_refused_naming_the_file(spark, lake):
    small_partition(lake, files=3)
    drifted = pa.schema([f if f.name != "amount" else pa.field("amount", pa.string(), nullable=False) for f in ORDERS])
    rows = [dict(r, amount=str(r["amount"])) for r in orders_rows(500, 2)]
    write_file(lake, "zz-drift.parquet", rows, schema=drifted)
    before = partition_state(lake)
    with pytest.raises(compact.JobError) as e:
        compact.run(spark, args_for(lake))
    msg = str(e.value)
    assert "schema drift" in msg and "zz-drift.parquet has [" in msg and "amount: string not null" in msg and "part0" not in msg
    assert partition_state(lake) == before


def test_spark_and_rust_written_files_merge(spark, lake, tmp_path):
    """Outputs of curate.py (Spark) next to files in the Rust engine's schema: one schema."""
    import curate
    from conftest import put

    rows = orders_rows(0, 3)
    write_file(lake, "rust-aaaa.parquet", rows)
    csv = "order_id,customer,amount,currency,order_date,created_at,gift\n7,x,1.5,,2026-11-25,2026-11-25T10:00:00Z,true\n"
    put(lake, "raw/orders/dt=2026-11-25/s.csv", csv)
    curate.run(spark, curate.parse_args(["--source", str(Path(lake) / "raw/orders/dt=2026-11-25/s.csv"), "--lake-root", str(lake), "--registry", REAL_REGISTRY]))
    summary = compact.run(spark, args_for(lake))
    assert summary["done"] == "compacted" and summary["rows"] == 4 and len(summary["outputs"]) == 1
    assert [r["order_id"] for r in all_rows(lake)] == [0, 1, 2, 7]
