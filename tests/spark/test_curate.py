"""curate.py in local mode: the Rust engine's rules (types, null values, CSV quoting, JSON
Lines, Parquet casts), failures that name column and value, output naming, and re-runs that
leave the same outputs and no duplicates. Values are checked against expectations written out
by hand from shared/core/src/types.rs and its tests."""

import dataclasses
import datetime as dt
import gzip
import hashlib
import json
import math
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import curate
from conftest import REAL_REGISTRY, REPO, put, registry_file

UTC = dt.timezone.utc

ALL_TYPES = """
t:
  key_pattern: raw/t/dt={date}/{file}
  format: csv
  null_values: ["", "NA"]
  columns:
    - {name: i, type: int, required: true}
    - {name: f, type: float}
    - {name: s, type: string}
    - {name: b, type: bool}
    - {name: d, type: date}
    - {name: ts, type: timestamp}
"""


def run_curate(spark, lake, key, registry, *extra):
    args = curate.parse_args(["--source", str(Path(lake) / key), "--lake-root", str(lake), "--registry", registry, *extra])
    return curate.run(spark, args)


def local_path(lake, uri):
    return Path(uri)


def read_outputs(summary):
    """The curated rows, parts in order, as dicts; and the first part's Parquet schema."""
    tables = [pq.read_table(p) for p in summary["outputs"]]
    return pa.concat_tables(tables).to_pylist(), pq.ParquetFile(summary["outputs"][0])


def ts(*a, us=0):
    return dt.datetime(*a, tzinfo=UTC) + dt.timedelta(microseconds=us)


def test_output_stem_matches_rust_output_key():
    for key, stem in [
        ("raw/orders/dt=2026-11-25/a.csv", "a"),
        ("raw/orders/dt=2026-11-25/a.csv.gz", "a"),
        ("raw/x/a.b.tsv", "a.b"),
        ("raw/x/.hidden", ".hidden"),
        ("raw/x/noext", "noext"),
        ("raw/x/data.gz", "data"),
    ]:
        h = hashlib.sha256(key.encode()).hexdigest()[:12]
        assert curate.output_stem(key) == f"{stem}-{h}", key


def test_every_type_and_its_accepted_forms(spark, lake, tmp_path):
    reg = registry_file(tmp_path, ALL_TYPES)
    key = "raw/t/dt=2026-11-25/types.csv"
    rows = [
        # i, f, s, b, d, ts
        ("0", "1", "plain", "TRUE", "1970-01-01", "2026-11-25T00:00:00Z"),
        ("-42", "-1.5", "Grüße, 世界 🎉", "t", "1970-01-02", "2026-11-25 10:00:00"),
        ("+7", ".5", "", "Yes", "1969-12-31", "2026-11-25T10:00"),
        ("9223372036854775807", "5.", "NA", "y", "2000-02-29", "2026-11-25t10:00:00z"),
        ("-9223372036854775808", "+.5", "x", "1", "2026-11-25", "2026-11-25T10:00:00.5Z"),
        ("007", "1e-3", "x", "false", "0001-01-01", "2026-11-25T10:00:00,25Z"),
        ("1", "2.5E+10", "x", "F", "9999-12-31", "2026-11-25T10:00:00.123456789+01:00"),
        ("2", "-Infinity", "x", "no", "", "2026-11-25T10:00:00-0530"),
        ("3", "+inf", "x", "N", "NA", "2026-11-25T10:00:00+05"),
        ("4", "INF", "x", "0", "2026-11-25", "2026-11-25T23:59:60Z"),
        ("5", "NaN", "x", "", "2026-11-25", ""),
        ("6", "-nan", "x", "NA", "2026-11-25", "NA"),
        ("7", "", "x", "true", "2026-11-25", "2026-11-25T10:00:00.000001Z"),
    ]
    text = "i,f,s,b,d,ts\n" + "".join(",".join(f'"{v}"' if "," in v else v for v in r) + "\n" for r in rows)
    put(lake, key, text)
    summary = run_curate(spark, lake, key, reg)
    out, pf = read_outputs(summary)
    assert summary["rows"] == len(rows) == len(out)
    day = ts(2026, 11, 25)
    h = dt.timedelta(hours=1)
    assert [r["i"] for r in out] == [0, -42, 7, 2**63 - 1, -(2**63), 7, 1, 2, 3, 4, 5, 6, 7]
    f = [r["f"] for r in out]
    assert f[:8] == [1.0, -1.5, 0.5, 5.0, 0.5, 0.001, 2.5e10, -math.inf]
    assert f[8:10] == [math.inf, math.inf] and math.isnan(f[10]) and math.isnan(f[11]) and f[12] is None
    assert [r["s"] for r in out][:4] == ["plain", "Grüße, 世界 🎉", None, None]
    assert [r["b"] for r in out] == [True, True, True, True, True, False, False, False, False, False, None, None, True]
    assert [r["d"] for r in out] == [
        dt.date(1970, 1, 1), dt.date(1970, 1, 2), dt.date(1969, 12, 31), dt.date(2000, 2, 29), dt.date(2026, 11, 25),
        dt.date(1, 1, 1), dt.date(9999, 12, 31), None, None, dt.date(2026, 11, 25), dt.date(2026, 11, 25),
        dt.date(2026, 11, 25), dt.date(2026, 11, 25),
    ]
    assert [r["ts"] for r in out] == [
        day, day + 10 * h, day + 10 * h, day + 10 * h, day + 10 * h + dt.timedelta(milliseconds=500),
        day + 10 * h + dt.timedelta(milliseconds=250),
        day + 9 * h + dt.timedelta(microseconds=123_456),  # nanoseconds truncated
        day + 15 * h + dt.timedelta(minutes=30),
        day + 5 * h,
        day + 24 * h,  # the leap second is the next minute's first second
        None, None,
        day + 10 * h + dt.timedelta(microseconds=1),
    ]
    # The schema the Rust engine writes: names, Parquet types, REQUIRED for required columns.
    cols = {c.name: c for c in (pf.schema.column(i) for i in range(len(pf.schema)))}
    assert cols["i"].physical_type == "INT64" and cols["i"].max_definition_level == 0
    assert cols["f"].physical_type == "DOUBLE" and cols["f"].max_definition_level == 1
    assert cols["s"].logical_type.type == "STRING"
    assert cols["b"].physical_type == "BOOLEAN"
    assert cols["d"].physical_type == "INT32" and cols["d"].logical_type.type == "DATE"
    assert cols["ts"].physical_type == "INT64"
    assert json.loads(cols["ts"].logical_type.to_json()) == {"Type": "Timestamp", "isAdjustedToUTC": True, "timeUnit": "microseconds", "is_from_converted_type": False, "force_set_converted_type": False}
    assert pf.metadata.row_group(0).column(0).compression == "ZSTD"
    arrow = pf.schema_arrow
    assert arrow.field("ts").type == pa.timestamp("us", tz="UTC")
    assert not arrow.field("i").nullable and arrow.field("f").nullable


def test_csv_quoting_line_ends_bom_blank_lines(spark, lake, tmp_path):
    """csv-core's reading: quoted delimiters, quotes and line breaks (kept byte for byte, CRLF
    included), CR/LF/CRLF mixed, blank lines skipped, the BOM dropped, `"ab"c` is abc, a quote
    inside an unquoted value is literal, quoted "" is the empty field."""
    reg = registry_file(tmp_path, """
        q:
          key_pattern: raw/q/{file}
          format: csv
          columns:
            - {name: id, type: int, required: true}
            - {name: txt, type: string}
    """)
    data = (
        b'\xef\xbb\xbfid,txt\r\n'
        b'1,"a,b"\r\n'
        b'\r\n'
        b'2,"line1\r\nline2"\r\n'
        b'3,"say ""hi"""\n'
        b'4,"x\ny"\n'
        b'\n\n'
        b'5,ab"c\r'
        b'6,"ab"c\n'
        b'7,""\n'
        b'8,\n'
        b'9,"\xc3\xa9t\xc3\xa9 \xe2\x82\xac"\n'
        b'10, spaced \n'
        b'11,last'
    )
    put(lake, "raw/q/f.csv", data)
    out, _ = read_outputs(run_curate(spark, lake, "raw/q/f.csv", reg))
    assert [(r["id"], r["txt"]) for r in out] == [
        (1, "a,b"), (2, "line1\r\nline2"), (3, 'say "hi"'), (4, "x\ny"), (5, 'ab"c'), (6, "abc"),
        (7, None), (8, None), (9, "été €"), (10, " spaced "), (11, "last"),
    ]


def test_null_values_only_as_declared(spark, lake, tmp_path):
    """With null_values [NA] the empty field is an empty string, not null."""
    reg = registry_file(tmp_path, """
        n:
          key_pattern: raw/n/{file}
          format: csv
          null_values: ["NA"]
          columns:
            - {name: id, type: int, required: true}
            - {name: txt, type: string}
    """)
    put(lake, "raw/n/f.csv", 'id,txt\n1,\n2,NA\n3,""\n4,"NA"\n5,na\n')
    out, _ = read_outputs(run_curate(spark, lake, "raw/n/f.csv", reg))
    assert [r["txt"] for r in out] == ["", None, "", None, "na"]


def test_tsv_without_header_gzip_and_backslash_n(spark, lake, tmp_path):
    """The returns sample's rules: TSV, no header, `\\N` and NULL as nulls; gzip by `.gz`,
    with two gzip members back to back (as `cat a.gz b.gz` makes)."""
    body1 = "5001\t100201\tdamaged in transit\ttrue\n5002\t100207\t\\N\tfalse\n"
    body2 = "5003\t100211\tNULL\tTRUE\n5004\t100215\t\t0\n"
    key = "raw/returns/dt=2026-11-25/r.tsv.gz"
    put(lake, key, gzip.compress(body1.encode()) + gzip.compress(body2.encode()))
    summary = run_curate(spark, lake, key, REAL_REGISTRY)
    out, _ = read_outputs(summary)
    assert summary["dataset"] == "returns"  # derived from the key pattern
    assert out == [
        {"return_id": 5001, "order_id": 100201, "reason": "damaged in transit", "refunded": True},
        {"return_id": 5002, "order_id": 100207, "reason": None, "refunded": False},
        {"return_id": 5003, "order_id": 100211, "reason": None, "refunded": True},
        {"return_id": 5004, "order_id": 100215, "reason": None, "refunded": False},
    ]
    assert Path(summary["outputs"][0]).name == f"{curate.output_stem(key)}-00000.parquet"
    assert Path(summary["outputs"][0]).parent == Path(lake) / "curated/returns/dt=2026-11-25"


def test_rows_transfer_and_parallelism_give_the_same_rows(spark, lake, tmp_path):
    reg = registry_file(tmp_path, ALL_TYPES)
    key = "raw/t/dt=2026-11-25/x.csv"
    put(lake, key, "i,f,s,b,d,ts\n1,2.5,é,yes,2026-11-25,2026-11-25T01:02:03Z\n2,,NA,,,\n")
    a, _ = read_outputs(run_curate(spark, lake, key, reg, "--csv-transfer", "arrow"))
    b, _ = read_outputs(run_curate(spark, lake, key, reg, "--csv-transfer", "rows"))
    assert a == b and len(a) == 2
    c, _ = read_outputs(run_curate(spark, lake, key, reg, "--parallelism", "2"))
    assert sorted(c, key=lambda r: r["i"]) == a


def test_samples_orders_csv(spark, lake):
    key = "raw/orders/dt=2026-11-25/good.csv"
    put(lake, key, (REPO / "samples/orders/good.csv").read_bytes())
    summary = run_curate(spark, lake, key, REAL_REGISTRY)
    out, pf = read_outputs(summary)
    assert summary["dataset"] == "orders" and summary["rows"] == 20
    by_id = {r["order_id"]: r for r in out}
    assert by_id[100205]["created_at"] == ts(2026, 11, 24, 23, 40, 2)  # +09:00
    assert by_id[100211]["customer"] == 'Chen, Wei "Will"'
    assert by_id[100218]["currency"] is None and by_id[100204]["gift"] is None
    amount = {c.name: c.type for c in curate.dataset_from_registry(curate.load_registry(REAL_REGISTRY), "orders").columns}["amount"]
    # Exact when the registry makes money a decimal (49.90 in the file), else a double.
    assert by_id[100201]["amount"] == (Decimal("49.90") if curate.decimal_params(amount) else 49.9)
    assert by_id[100201]["order_date"] == dt.date(2026, 11, 25)
    assert [f.name for f in pf.schema_arrow] == ["order_id", "customer", "amount", "currency", "order_date", "created_at", "gift"]


def test_jsonl_sample_and_rules(spark, lake):
    key = "raw/clicks/dt=2026-11-25/good.jsonl"
    put(lake, key, (REPO / "samples/clicks/good.jsonl").read_bytes())
    out, _ = read_outputs(run_curate(spark, lake, key, REAL_REGISTRY))
    src = [json.loads(line) for line in (REPO / "samples/clicks/good.jsonl").read_text().splitlines() if line.strip()]
    assert len(out) == len(src)
    assert out[0]["ts"] == ts(2026, 11, 25, 10, 0, 0) and out[0]["bot"] is False
    assert out[2]["duration"] is None and out[2]["bot"] is None  # missing fields are null
    assert [r["event_id"] for r in out] == [s["event_id"] for s in src]

    key2 = "raw/clicks/dt=2026-11-25/edge.jsonl"
    put(lake, key2, (
        '\ufeff{"event_id":"caf\\u00e9 \\ud83c\\udf89","user_id":-1,"url":"u","ts":"2026-11-25T10:00:00+01:00","duration":3,"bot":null}\r\n'
        "   \n"
        '{"event_id":"b","user_id":9223372036854775807,"url":"u","ts":"2026-11-25 10:00","duration":1e-3}\n'
    ).encode("utf-8"))
    out2, _ = read_outputs(run_curate(spark, lake, key2, REAL_REGISTRY))
    assert out2 == [
        {"event_id": "café 🎉", "user_id": -1, "url": "u", "ts": ts(2026, 11, 25, 9), "duration": 3.0, "bot": None},
        {"event_id": "b", "user_id": 2**63 - 1, "url": "u", "ts": ts(2026, 11, 25, 10), "duration": 0.001, "bot": None},
    ]


def test_parquet_input_is_cast_to_the_declared_schema(spark, lake, tmp_path):
    reg = registry_file(tmp_path, """
        p:
          key_pattern: raw/p/{file}
          format: parquet
          extra_columns: allow
          columns:
            - {name: n, type: int, required: true}
            - {name: x, type: float}
            - {name: money, type: float}
            - {name: s, type: string}
            - {name: d, type: date}
            - {name: t_ms, type: timestamp}
            - {name: t_ns, type: timestamp}
            - {name: t_local, type: timestamp}
    """)
    t = pa.table({
        "extra": pa.array(["ignored", "too"]),
        "t_ns": pa.array([1_700_000_000_123_456_789, -1_001], pa.timestamp("ns", tz="UTC")),
        "n": pa.array([1, -2], pa.int32()),
        "x": pa.array([1.5, None], pa.float32()),
        "money": pa.array([Decimal("12.34"), Decimal("-0.01")], pa.decimal128(10, 2)),
        "s": pa.array(["a", None]),
        "d": pa.array([dt.date(2026, 11, 25), dt.date(1, 1, 1)]),
        "t_ms": pa.array([1_700_000_000_123, None], pa.timestamp("ms", tz="UTC")),
        "t_local": pa.array([dt.datetime(2026, 11, 25, 10, 0), None], pa.timestamp("us")),
    })
    p = Path(lake) / "raw/p/in.parquet"
    p.parent.mkdir(parents=True)
    pq.write_table(t, p, version="2.6")
    out, pf = read_outputs(run_curate(spark, lake, "raw/p/in.parquet", reg))
    assert [f.name for f in pf.schema_arrow] == ["n", "x", "money", "s", "d", "t_ms", "t_ns", "t_local"]
    assert out[0] == {
        "n": 1, "x": 1.5, "money": 12.34, "s": "a", "d": dt.date(2026, 11, 25),
        "t_ms": ts(2023, 11, 14, 22, 13, 20, us=123_000), "t_ns": ts(2023, 11, 14, 22, 13, 20, us=123_456),
        "t_local": ts(2026, 11, 25, 10),
    }
    # -1001 ns truncates toward zero to -1 us, as arrow-cast divides.
    assert out[1]["t_ns"] == ts(1970, 1, 1) - dt.timedelta(microseconds=1)
    assert out[1]["money"] == -0.01 and out[1]["d"] == dt.date(1, 1, 1) and out[1]["x"] is None

    # INT96 (legacy writers) reads as the same instant.
    t96 = pa.table({"n": pa.array([1], pa.int64()), "t_ms": pa.array([dt.datetime(2026, 1, 2, 3, 4, 5, 6)], pa.timestamp("us")),
                    "x": pa.array([None], pa.float64()), "money": pa.array([1.0]), "s": pa.array(["z"]), "d": pa.array([None], pa.date32()),
                    "t_ns": pa.array([None], pa.timestamp("us")), "t_local": pa.array([None], pa.timestamp("us"))})
    pq.write_table(t96, Path(lake) / "raw/p/int96.parquet", use_deprecated_int96_timestamps=True)
    out96, _ = read_outputs(run_curate(spark, lake, "raw/p/int96.parquet", reg))
    assert out96[0]["t_ms"] == ts(2026, 1, 2, 3, 4, 5, us=6)


def test_parquet_sample_inventory(spark, lake):
    key = "raw/inventory/dt=2026-11-25/good.parquet"
    put(lake, key, (REPO / "samples/inventory/good.parquet").read_bytes())
    out, pf = read_outputs(run_curate(spark, lake, key, REAL_REGISTRY))
    assert out == pq.read_table(REPO / "samples/inventory/good.parquet").select([f.name for f in pf.schema_arrow]).to_pylist()


def _failure(spark, lake, key, reg):
    with pytest.raises(curate.JobError) as e:
        run_curate(spark, lake, key, reg)
    return str(e.value)


def test_a_value_that_does_not_convert_fails_naming_column_and_value(spark, lake, tmp_path):
    reg = registry_file(tmp_path, ALL_TYPES)
    for bad_row, column, value in [
        ("1,1.5x,s,true,2026-11-25,2026-11-25T10:00:00Z", "f (float)", "1.5x"),
        ("1,1,s,true,2026-02-30,2026-11-25T10:00:00Z", "d (date)", "2026-02-30"),
        ("1,1,s,true,2026-11-25,2026-11-25T24:00:00Z", "ts (timestamp)", "2026-11-25T24:00:00Z"),
        ("99999999999999999999,1,s,true,2026-11-25,2026-11-25T10:00:00Z", "i (int)", "99999999999999999999"),
    ]:
        key = "raw/t/dt=2026-11-25/bad.csv"
        put(lake, key, "i,f,s,b,d,ts\n" + bad_row + "\n")
        msg = _failure(spark, lake, key, reg)
        assert f"column {column}" in msg and f'"{value}"' in msg and "bad.csv" in msg, msg
    put(lake, "raw/t/dt=2026-11-25/null.csv", "i,f,s,b,d,ts\nNA,1,s,true,2026-11-25,2026-11-25T10:00:00Z\n")
    msg = _failure(spark, lake, "raw/t/dt=2026-11-25/null.csv", reg)
    assert "required column i holds a null" in msg, msg
    put(lake, "raw/clicks/dt=2026-11-25/f.jsonl", '{"event_id":"a","user_id":1.5,"url":"u","ts":"2026-11-25T10:00:00Z"}\n')
    msg = _failure(spark, lake, "raw/clicks/dt=2026-11-25/f.jsonl", REAL_REGISTRY)
    assert "f.jsonl" in msg and "user_id" in msg, msg


def test_rerun_is_idempotent_and_removes_stale_parts(spark, lake, tmp_path):
    reg = registry_file(tmp_path, ALL_TYPES)
    key = "raw/t/dt=2026-11-25/many.csv"
    put(lake, key, "i,f,s,b,d,ts\n" + "".join(f"{n},{n}.5,s{n},true,2026-11-25,2026-11-25T10:00:{n % 60:02d}Z\n" for n in range(10)))
    stem = curate.output_stem(key)
    folder = Path(lake) / "curated/t/dt=2026-11-25"
    folder.mkdir(parents=True)
    (folder / f"{stem}.parquet").write_bytes(b"the Rust engine's single file of an earlier run")
    (folder / "other-file.parquet").write_bytes(b"another upload's output: untouched")

    first = run_curate(spark, lake, key, reg, "--max-records-per-file", "3")
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([f"{stem}-0000{i}.parquet" for i in range(4)] + ["other-file.parquet"])
    rows, _ = read_outputs(first)
    assert [r["i"] for r in rows] == list(range(10))

    again = run_curate(spark, lake, key, reg, "--max-records-per-file", "3")
    assert again["outputs"] == first["outputs"] and again["rows"] == 10
    assert sorted(p.name for p in folder.iterdir()) == names

    fewer = run_curate(spark, lake, key, reg)
    assert [Path(o).name for o in fewer["outputs"]] == [f"{stem}-00000.parquet"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"{stem}-00000.parquet", "other-file.parquet"])
    assert [r["i"] for r in read_outputs(fewer)[0]] == list(range(10))
    assert not any((Path(lake) / "_lakeline/staging").rglob("*.parquet"))


def test_header_only_file_gives_one_empty_part(spark, lake, tmp_path):
    reg = registry_file(tmp_path, ALL_TYPES)
    put(lake, "raw/t/dt=2026-11-25/empty.csv", "i,f,s,b,d,ts\r\n")
    summary = run_curate(spark, lake, "raw/t/dt=2026-11-25/empty.csv", reg)
    assert summary["rows"] == 0 and len(summary["outputs"]) == 1
    assert pq.read_schema(summary["outputs"][0]).names == ["i", "f", "s", "b", "d", "ts"]


def test_arguments_glue_and_emr_styles():
    glue = curate.parse_args([
        "--JOB_NAME", "lakeline-orders-curate", "--lakeline_source", "s3://lake/raw/orders/dt=2026-11-25/a.csv",
        "--lakeline_target", "s3://lake/curated/orders/dt=2026-11-25/", "--lakeline_dataset", "orders",
        "--lakeline_partition", "dt=2026-11-25", "--lakeline_execution", "exec-1", "--lakeline_run_key", "rk",
        "--enable-metrics", "true", "--output_format", "parquet", "--job-bookmark-option", "job-bookmark-disable",
    ])
    assert (glue.source, glue.target, glue.dataset, glue.partition, glue.execution) == (
        "s3://lake/raw/orders/dt=2026-11-25/a.csv", "s3://lake/curated/orders/dt=2026-11-25/", "orders", "dt=2026-11-25", "exec-1")
    emr = curate.parse_args([
        "--session-gap-minutes", "30", "--source", "s3://lake/raw/clicks/dt=2026-11-25/c.jsonl",
        "--partition", "dt=2026-11-25", "--target", "s3://lake/curated/clicks/dt=2026-11-25/",
    ])
    assert (emr.source, emr.partition, emr.target, emr.dataset) == (
        "s3://lake/raw/clicks/dt=2026-11-25/c.jsonl", "dt=2026-11-25", "s3://lake/curated/clicks/dt=2026-11-25/", None)
    storage, key = curate.locate(emr.source)
    assert isinstance(storage, curate.S3Storage) and storage.bucket == "lake" and key == "raw/clicks/dt=2026-11-25/c.jsonl"


def test_target_defaults_to_the_registry_prefix_and_odd_names_are_not_globs(spark, lake):
    key = "raw/returns/dt=2026-11-25/r[1]{a}.tsv"
    put(lake, key, "1\t2\tx\ttrue\n")
    args = curate.parse_args(["--source", str(Path(lake) / key), "--lake-root", str(lake), "--registry", REAL_REGISTRY])
    summary = curate.run(spark, args)
    assert Path(summary["outputs"][0]).parent == Path(lake) / "curated/returns/dt=2026-11-25"
    assert Path(summary["outputs"][0]).name.startswith("r[1]{a}-")


def test_a_batch_manifest_curates_each_file_as_its_own_run_would(spark, lake):
    """start-job gathers a partition's files into one run (lakeline::batch): the manifest's
    files come out exactly as their single-file runs would (same keys, same rows)."""
    keys = [f"raw/orders/dt=2026-11-25/part-{i}.csv" for i in range(2)]
    for k in keys:
        put(lake, k, (REPO / "samples/orders/good.csv").read_bytes())
    manifest = "_lakeline/batches/orders/dt=2026-11-25/exec-0/manifest.json"
    # The ETags validation judged (a local lake's ETag is the content's MD5, as S3's).
    etag = hashlib.md5((REPO / "samples/orders/good.csv").read_bytes()).hexdigest()
    doc = {"batch": "exec-0", "bucket": "lake", "dataset": "orders", "partition": "dt=2026-11-25",
           "files": [{"execution": f"exec-{i}", "key": k, "etag": etag} for i, k in enumerate(keys)]}
    put(lake, manifest, json.dumps(doc).encode())
    args = curate.parse_args(["--manifest", str(Path(lake) / manifest), "--lake-root", str(lake),
                              "--registry", REAL_REGISTRY])
    batch = curate.run_all(spark, args)
    assert [f["source"] for f in batch["files"]] == [str(Path(lake) / k) for k in keys]
    assert batch["rows"] == 40
    single = run_curate(spark, lake, keys[0], REAL_REGISTRY)
    assert single["outputs"] == batch["files"][0]["outputs"]
    rows, _ = read_outputs(batch["files"][1])
    assert [r["order_id"] for r in rows] == [r["order_id"] for r in read_outputs(single)[0]]
    with pytest.raises(SystemExit):
        curate.parse_args(["--lake-root", str(lake)])  # neither a source nor a manifest
    # A member replaced since it was validated fails the run, naming it.
    doc["files"][1]["etag"] = "0" * 32
    put(lake, manifest, json.dumps(doc).encode())
    with pytest.raises(curate.JobError, match="part-1.csv is not the upload that was validated"):
        curate.run_all(spark, args)


SENSITIVE = """
t:
  key_pattern: raw/t/dt={date}/{file}
  format: csv
  columns:
    - {name: i, type: int, required: true}
    - {name: card, type: float, sensitive: true}
"""


def test_a_sensitive_value_never_reaches_the_error_message(spark, lake, tmp_path):
    """A job's error becomes the Glue error and then the SNS alert: a `sensitive` column's value
    is never in it (issue 26: redaction), though the column and the file are named."""
    reg = registry_file(tmp_path, SENSITIVE)
    key = "raw/t/dt=2026-11-25/bad.csv"
    put(lake, key, "i,card\n1,4111x1111\n")
    msg = _failure(spark, lake, key, reg)
    assert "column card" in msg and "bad.csv" in msg, msg
    assert "4111" not in msg and "not shown" in msg, msg


def test_a_spark_failure_quoting_data_keeps_only_its_class_when_values_are_not_shown():
    error = RuntimeError(
        "org.apache.spark.SparkException: Job aborted.\n"
        "[CAST_INVALID_INPUT] The value 'secret-4111' of the type \"STRING\" cannot be cast to \"BIGINT\""
    )
    shown = curate.Dataset(name="t", key_pattern="raw/t/{file}", format="csv", compression="auto", header="required",
                           delimiter=",", null_values=("",), extra_columns="reject",
                           columns=(curate.Column("i", "int", True),), target_prefix="c/", compaction_prefix="c/",
                           target_file_size=1)
    assert "secret-4111" in curate.explain_spark_failure(error, "s3://b/k", shown)
    for hidden in (
        dataclasses.replace(shown, redact_values=True),
        dataclasses.replace(shown, columns=(curate.Column("i", "int", True, sensitive=True),)),
    ):
        msg = curate.explain_spark_failure(error, "s3://b/k", hidden)
        assert "secret-4111" not in msg and "[CAST_INVALID_INPUT]" in msg and "not shown" in msg, msg
