"""Cross-engine differential test: the same file curated by the Rust engine (the `lakeline
curate` CLI, exactly what the curate Lambda runs) and by curate.py must give the same schema
(names, types, nullability) and the same rows. Run on every good sample under samples/ and on
generated files full of edge cases. Skipped, with the reason, when $LAKELINE_BIN (default
target/debug/lakeline) is missing or has no `curate` subcommand."""

import json
import math
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import curate
from conftest import REAL_REGISTRY, REPO, put, registry_file

BIN = os.environ.get("LAKELINE_BIN") or str(REPO / "target/debug/lakeline")


def _rust_cli():
    if not Path(BIN).is_file():
        return f"no Rust CLI at {BIN} (build it with `cargo build -p lakeline-cli` or set LAKELINE_BIN)"
    r = subprocess.run([BIN, "curate", "--help"], capture_output=True, text=True)
    if r.returncode != 0:
        return f"{BIN} has no `curate` subcommand yet ({(r.stderr or r.stdout).strip().splitlines()[:1]})"
    return None


SKIP = _rust_cli()
if SKIP and os.environ.get("LAKELINE_REQUIRE_BIN"):
    # `make test` sets this: in CI the comparison must run, never skip.
    raise RuntimeError(SKIP)
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")


def rust_curate(path, dataset, key, registry, out):
    r = subprocess.run([BIN, "curate", str(path), "--dataset", dataset, "--out", str(out), "--key", key, "--config", registry],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, f"lakeline curate failed ({r.returncode}): {r.stdout}\n{r.stderr}"
    return pq.read_table(out)


def normalise_schema(schema):
    """(name, type, nullable); UTC is spelled "+00:00" by arrow-rs and "UTC" by Spark."""
    out = []
    for f in schema:
        t = f.type
        if pa.types.is_timestamp(t) and t.tz in ("+00:00", "UTC", "Z"):
            t = pa.timestamp(t.unit, tz="UTC")
        out.append((f.name, str(t), f.nullable))
    return out


def sortable(rows):
    def key(v):
        if isinstance(v, float) and math.isnan(v):
            return "NaN"
        return v

    as_tuples = [tuple(key(v) for v in r.values()) for r in rows]
    return sorted(as_tuples, key=lambda t: tuple((x is None, str(type(x)), str(x)) for x in t))


def compare(spark, lake, tmp_path, dataset, key, registry, json_columns=()):
    """`json_columns`: compared as parsed JSON. The engines keep the same objects, arrays and
    key order, but their JSON libraries write some numbers differently (Jackson `1.0E-7`,
    serde_json `1e-7`), which docs/registry.md says."""
    path = Path(lake) / key
    rust = rust_curate(path, dataset, key, registry, tmp_path / "rust.parquet")
    summary = curate.run(spark, curate.parse_args(["--source", str(path), "--lake-root", str(lake), "--registry", registry, "--dataset", dataset]))
    spark_table = pa.concat_tables([pq.read_table(p) for p in summary["outputs"]])
    assert normalise_schema(spark_table.schema) == normalise_schema(rust.schema)
    # The Parquet level too: physical and logical types, REQUIRED/OPTIONAL.
    ps = pq.ParquetFile(summary["outputs"][0]).schema
    pr = pq.ParquetFile(tmp_path / "rust.parquet").schema
    for i in range(len(pr)):
        a, b = ps.column(i), pr.column(i)
        assert (a.name, a.physical_type, a.max_definition_level) == (b.name, b.physical_type, b.max_definition_level)
        assert str(a.logical_type) == str(b.logical_type) or {str(a.logical_type), str(b.logical_type)} <= {"None", "Int(bitWidth=64, isSigned=true)"}
    assert spark_table.num_rows == rust.num_rows
    rows_spark = spark_table.cast(rust.schema).to_pylist() if spark_table.num_rows else []
    rows_rust = rust.to_pylist()
    for rows in (rows_spark, rows_rust):
        for r in rows:
            for c in json_columns:
                if r[c] is not None:
                    r[c] = json.dumps(json.loads(r[c]))
    assert sortable(rows_spark) == sortable(rows_rust)
    return rust.num_rows


@pytest.mark.parametrize("dataset,sample", [
    ("orders", "orders/good.csv"),
    ("returns", "returns/good.tsv"),
    ("clicks", "clicks/good.jsonl"),
    ("inventory", "inventory/good.parquet"),
])
def test_samples_agree(spark, lake, tmp_path, dataset, sample):
    key = f"raw/{dataset}/dt=2026-11-25/{Path(sample).name}"
    put(lake, key, (REPO / "samples" / sample).read_bytes())
    assert compare(spark, lake, tmp_path, dataset, key, REAL_REGISTRY) > 0


EDGE = """
e:
  key_pattern: raw/e/dt={date}/{file}
  format: csv
  null_values: ["", "NA", "\\\\N"]
  columns:
    - {name: i, type: int, required: true}
    - {name: f, type: float}
    - {name: s, type: string}
    - {name: b, type: bool}
    - {name: d, type: date}
    - {name: ts, type: timestamp}
j:
  key_pattern: raw/j/dt={date}/{file}
  format: jsonl
  extra_columns: allow
  columns:
    - {name: i, type: int, required: true}
    - {name: f, type: float}
    - {name: s, type: string}
    - {name: b, type: bool}
    - {name: d, type: date}
    - {name: ts, type: timestamp}
"""


def test_edge_cases_agree(spark, lake, tmp_path):
    reg = registry_file(tmp_path, EDGE)
    csv_text = (
        b"\xef\xbb\xbfi,f,s,b,d,ts\r\n"
        b"0,1,plain,TRUE,1970-01-01,2026-11-25T00:00:00Z\r\n"
        b"-42,-1.5,\"Gr\xc3\xbc\xc3\x9fe, \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x8e\x89\",t,1969-12-31,2026-11-25 10:00:00\n"
        b"\r\n"
        b"+7,.5,\"a\r\nb\",Yes,2000-02-29,2026-11-25T10:00\n"
        b"9223372036854775807,5.,NA,y,0001-01-01,2026-11-25t10:00:00z\r"
        b"-9223372036854775808,+.5,\"say \"\"hi\"\"\",1,9999-12-31,2026-11-25T10:00:00.5Z\n"
        b"007,1e-3,ab\"c,false,2026-11-25,\"2026-11-25T10:00:00,25Z\"\n"
        b"1,2.5E+10,\"ab\"c,F,2026-11-25,2026-11-25T10:00:00.123456789+01:00\n"
        b"2,-Infinity,\\N,no,,2026-11-25T10:00:00-0530\n"
        b"3,+inf,\"\",N,NA,2026-11-25T10:00:00+05\n"
        b"4,INF, x ,0,2026-11-25,2026-11-25T23:59:60Z\n"
        b"5,NaN,x,,2026-11-25,\n"
        b"6,0.1,x,NA,2026-11-25,1969-12-31T23:59:59.999999999-00:01\n"
        b"7,123456789012345678901234567890,last,true,2026-11-25,2026-11-25T10:00:00.000001Z"
    )
    put(lake, "raw/e/dt=2026-11-25/edge.csv", csv_text)
    assert compare(spark, lake, tmp_path, "e", "raw/e/dt=2026-11-25/edge.csv", reg) == 13

    import gzip

    put(lake, "raw/e/dt=2026-11-25/edge.csv.gz", gzip.compress(csv_text))
    assert compare(spark, lake, tmp_path, "e", "raw/e/dt=2026-11-25/edge.csv.gz", reg) == 13

    jsonl = (
        '\ufeff{"i":1,"f":1,"s":"caf\\u00e9 \\ud83c\\udf89","b":true,"d":"2026-11-25","ts":"2026-11-25T10:00:00+01:00"}\r\n'
        '{"i":-9223372036854775808,"f":0.1,"s":"","b":false,"d":null,"ts":"2026-11-25 10:00:00.1234567"}\n'
        "  \n"
        '{"i":3,"f":1e308,"extra":{"nested":[1,2]}}\n'
        '{"i":4,"f":-0.0,"s":"tab\\there","ts":"2026-11-25T23:59:60Z","d":"0001-01-01"}\n'
        '{"i":5,"f":123456789012345678901234567890,"s":"x"}\n'
        '{"i":6,"f":2.2250738585072014e-308,"s":"y"}\n'
    )
    put(lake, "raw/j/dt=2026-11-25/edge.jsonl", jsonl.encode("utf-8"))
    assert compare(spark, lake, tmp_path, "j", "raw/j/dt=2026-11-25/edge.jsonl", reg) == 6


PARQUET = """
p:
  key_pattern: raw/p/dt={date}/{file}
  format: parquet
  extra_columns: allow
  columns:
    - {name: n, type: int, required: true}
    - {name: small, type: int}
    - {name: x, type: float}
    - {name: money, type: float}
    - {name: s, type: string}
    - {name: d, type: date}
    - {name: t_ms, type: timestamp}
    - {name: t_ns, type: timestamp}
    - {name: t_local, type: timestamp}
"""


def _casts_table():
    import datetime as dt
    from decimal import Decimal

    t = pa.table({
        "extra": pa.array(["ignored", "too", "x"]),
        "t_ns": pa.array([1_700_000_000_123_456_789, -1_001, None], pa.timestamp("ns", tz="UTC")),
        "n": pa.array([1, -2, 2**31 - 1], pa.int32()),
        "small": pa.array([1, None, -128], pa.int8()),
        "x": pa.array([1.1, None, float("nan")], pa.float32()),
        "money": pa.array([Decimal("12.34"), Decimal("-0.01"), Decimal("99999999.99")], pa.decimal128(10, 2)),
        "s": pa.array(["a", None, "é"]),
        "d": pa.array([dt.date(2026, 11, 25), dt.date(1, 1, 1), None]),
        "t_ms": pa.array([1_700_000_000_123, None, -1], pa.timestamp("ms", tz="UTC")),
        "t_local": pa.array([dt.datetime(2026, 11, 25, 10, 0), None, dt.datetime(1900, 1, 1)], pa.timestamp("us")),
    })
    return t


@pytest.mark.parametrize("codec", ["zstd", "none", "snappy", "gzip", "lz4"])
def test_parquet_casts_agree(spark, lake, tmp_path, codec):
    reg = registry_file(tmp_path, PARQUET)
    p = Path(lake) / "raw/p/dt=2026-11-25/in.parquet"
    p.parent.mkdir(parents=True)
    pq.write_table(_casts_table(), p, version="2.6", compression=codec)
    assert compare(spark, lake, tmp_path, "p", "raw/p/dt=2026-11-25/in.parquet", reg) == 3


DECIMALS_BY_NAME = """
d:
  key_pattern: raw/d/dt={date}/{file}
  format: csv
  header: by_name
  extra_columns: allow
  columns:
    - {name: id, type: int, required: true}
    - {name: small, type: "decimal(9,2)"}
    - {name: amount, type: "decimal(12,2)", required: true}
    - {name: wide, type: "decimal(38,10)"}
    - {name: note, type: string}
dj:
  key_pattern: raw/dj/dt={date}/{file}
  format: jsonl
  extra_columns: allow
  columns:
    - {name: id, type: int, required: true}
    - {name: amount, type: "decimal(12,2)"}
    - {name: whole, type: "decimal(20,0)"}
    - {name: wide, type: "decimal(38,10)"}
dp:
  key_pattern: raw/dp/dt={date}/{file}
  format: parquet
  columns:
    - {name: id, type: int, required: true}
    - {name: amount, type: "decimal(12,2)"}
    - {name: wide, type: "decimal(38,10)"}
"""


def test_decimals_and_headers_by_name_agree(spark, lake, tmp_path):
    """Columns reordered, one undeclared, one optional missing; decimals in every accepted
    form, from text, JSON strings, integers and doubles, and Parquet DECIMAL inputs of the
    same scale and fewer digits: the engines give the same values in the declared order."""
    from decimal import Decimal

    reg = registry_file(tmp_path, DECIMALS_BY_NAME)
    csv_text = (
        "\ufeffnote, amount ,extra,id,wide\r\n"
        "a,12.34,x,1,1234567890123456789012345678.0123456789\r\n"
        "b,+1.5,y,2,\r\n"
        "c,.5,z,3,-0.0000000001\n"
        "d,5.,,4,0\n"
        "\"e, quoted\",-0.00,,5,007.5\n"
        "f,9999999999.99,,6,-9999999999999999999999999999.9999999999\n"
    )
    put(lake, "raw/d/dt=2026-11-25/by-name.csv", csv_text.encode("utf-8"))
    assert compare(spark, lake, tmp_path, "d", "raw/d/dt=2026-11-25/by-name.csv", reg) == 6

    jsonl = (
        '{"id":1,"amount":"12.34","whole":12,"wide":0.1}\n'
        '{"id":2,"amount":12.5,"whole":12.0,"wide":"1234567890123456789012345678.0123456789"}\n'
        '{"id":3,"amount":1e3,"whole":-9223372036854775808,"wide":1e-7}\n'
        '{"id":4,"amount":-0.0,"whole":18446744073709551615,"wide":123456789012345.0}\n'
        '{"id":5,"amount":null,"wide":-2.5E-1}\n'
    )
    put(lake, "raw/dj/dt=2026-11-25/d.jsonl", jsonl.encode("utf-8"))
    assert compare(spark, lake, tmp_path, "dj", "raw/dj/dt=2026-11-25/d.jsonl", reg) == 5

    t = pa.table({
        "wide": pa.array([Decimal("1.5"), None, Decimal("-1234567890123456789012345678.0123456789")], pa.decimal128(38, 10)),
        "amount": pa.array([Decimal("12.34"), Decimal("-0.01"), None], pa.decimal128(5, 2)),
        "id": pa.array([1, 2, 3], pa.int64()),
    })
    path = Path(lake) / "raw/dp/dt=2026-11-25/d.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(t, path)
    assert compare(spark, lake, tmp_path, "dp", "raw/dp/dt=2026-11-25/d.parquet", reg) == 3


ZONED_JSON = """
z:
  key_pattern: raw/z/dt={date}/{file}
  format: csv
  timezone: Europe/Berlin
  columns:
    - {name: id, type: int, required: true}
    - {name: at, type: timestamp}
    - {name: attrs, type: json}
zj:
  key_pattern: raw/zj/dt={date}/{file}
  format: jsonl
  timezone: America/New_York
  columns:
    - {name: id, type: int, required: true}
    - {name: at, type: timestamp}
    - {name: attrs, type: json}
"""


def test_time_zones_and_json_columns_agree(spark, lake, tmp_path):
    """Local times on both sides of daylight-saving changes, offsets and Z unaffected; JSON
    objects and arrays kept as text (CSV verbatim, JSON Lines compact in key order)."""
    reg = registry_file(tmp_path, ZONED_JSON)
    csv_text = (
        "id,at,attrs\n"
        "1,2026-01-15 10:00,\"{\"\"b\"\": [1, 2], \"\"a\"\": {\"\"x\"\": null}}\"\n"
        "2,2026-07-15T10:00:00.123456,[ ]\n"
        "3,2026-03-29T01:59:59,\n"
        "4,2026-03-29T03:00:00,\"[\"\"\u00e9\"\", true]\"\n"
        "5,2026-10-25T02:30:00+01:00,{}\n"
        "6,2026-10-25T03:30:00,\n"
        "7,2026-07-15T10:00:00Z,\n"
    )
    put(lake, "raw/z/dt=2026-11-25/z.csv", csv_text.encode("utf-8"))
    assert compare(spark, lake, tmp_path, "z", "raw/z/dt=2026-11-25/z.csv", reg, ("attrs",)) == 7

    jsonl = (
        '{"id": 1, "at": "2026-03-08T01:59:59", "attrs": {"z": [1.5, "x"], "a": {"n": null}}}\n'
        '{"id": 2, "at": "2026-03-08 03:00", "attrs": [[], {}]}\n'
        '{"id": 3, "at": "2026-11-01T00:59:59.5", "attrs": null}\n'
        '{"id": 4, "at": "2026-11-01T02:00:00-05:00"}\n'
        '{"id": 5, "at": "2026-11-01T02:00:00", "attrs": {"k": 1e3}}\n'
    )
    put(lake, "raw/zj/dt=2026-11-25/z.jsonl", jsonl.encode("utf-8"))
    assert compare(spark, lake, tmp_path, "zj", "raw/zj/dt=2026-11-25/z.jsonl", reg, ("attrs",)) == 5


DEFAULTS = """
df:
  key_pattern: raw/df/dt={date}/{file}
  format: csv
  header: by_name
  timezone: Europe/Berlin
  null_values: ["", "NA"]
  columns:
    - {name: id, type: int, required: true}
    - {name: qty, type: int, required: true, default: 1}
    - {name: amount, type: "decimal(12,2)", default: 0.5}
    - {name: ratio, type: float, default: 1e3}
    - {name: ok, type: bool, default: yes}
    - {name: day, type: date, default: "2026-01-31"}
    - {name: at, type: timestamp, default: "2026-01-01 00:00"}
    - {name: cur, type: string, default: EUR}
    - {name: attrs, type: json, default: "{\\"k\\": []}"}
dfj:
  key_pattern: raw/dfj/dt={date}/{file}
  format: jsonl
  columns:
    - {name: id, type: int, required: true}
    - {name: qty, type: int, required: true, default: 1}
    - {name: cur, type: string, default: EUR}
    - {name: at, type: timestamp, default: "2026-01-01T00:00:00Z"}
"""


def test_defaults_agree(spark, lake, tmp_path):
    """Nulls, null values, missing fields and a column missing from a by_name header take the
    column's default in both engines; present values are kept."""
    reg = registry_file(tmp_path, DEFAULTS)
    csv_text = (
        "id,qty,amount,ratio,ok,day,at,cur\n"
        "1,5,2.25,0.5,false,2026-11-25,2026-07-01 12:00,USD\n"
        "2,,,,,,,\n"
        "3,NA,NA,NA,NA,NA,NA,NA\n"
    )
    put(lake, "raw/df/dt=2026-11-25/d.csv", csv_text.encode("utf-8"))
    assert compare(spark, lake, tmp_path, "df", "raw/df/dt=2026-11-25/d.csv", reg, ("attrs",)) == 3
    jsonl = '{"id": 1, "qty": 2, "cur": "USD", "at": "2026-07-01T12:00:00Z"}\n{"id": 2, "qty": null}\n{"id": 3, "cur": null}\n'
    put(lake, "raw/dfj/dt=2026-11-25/d.jsonl", jsonl.encode("utf-8"))
    assert compare(spark, lake, tmp_path, "dfj", "raw/dfj/dt=2026-11-25/d.jsonl", reg) == 3


# --- the registry snapshot start-job hands a run --------------------------------------------------

def _snapshot_sources():
    """(name, registry YAML path) of registries that exercise what YAML 1.1 and 1.2 read
    differently: every column type with a default, zones, json columns, the shipped registry."""
    import test_default
    import test_json_type
    import test_timezone
    return [
        ("shipped", None),
        ("defaults", test_default.EVERY_TYPE),
        ("by name", test_default.BY_NAME.replace("{nulls}", '["", "NA"]')),
        ("parquet", test_default.PARQUET),
        ("zoned", test_timezone.ZONED.replace("{format}", "csv").replace("{timezone}", "timezone: Europe/Berlin")),
        ("json", test_json_type.JSON_DS.replace("{format}", "jsonl")),
    ]


@pytest.mark.parametrize("name,datasets_yaml", _snapshot_sources(), ids=lambda v: v if isinstance(v, str) and "\n" not in v else None)
def test_a_registry_snapshot_reads_as_its_yaml_and_needs_no_pyyaml(tmp_path, monkeypatch, name, datasets_yaml):
    """start-job hands a Spark run the registry as lakeline read it (JSON; lakeline_core's
    Registry::snapshot, printed by `lakeline registry check --json`). curate.py reads from it
    the datasets it reads from the YAML, with PyYAML unavailable."""
    src = REAL_REGISTRY if datasets_yaml is None else registry_file(tmp_path, datasets_yaml)
    out = subprocess.run([BIN, "registry", "check", src, "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    snap = tmp_path / "snapshot.json"
    snap.write_text(out.stdout, encoding="utf-8")
    from_yaml = curate.load_registry(src)

    def no_pyyaml():
        raise AssertionError("a snapshot is read without PyYAML")

    monkeypatch.setattr(curate, "yaml_module", no_pyyaml)
    from_json = curate.load_registry(str(snap))
    assert sorted(from_json["datasets"]) == sorted(from_yaml["datasets"])
    for ds in from_json["datasets"]:
        assert curate.dataset_from_registry(from_json, ds) == curate.dataset_from_registry(from_yaml, ds), f"{name}: {ds}"
