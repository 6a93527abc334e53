"""Column defaults (`default:` in the registry) in curate.py: where a column's value is null
(a CSV/TSV null value, a `header: by_name` column the header lacks, a JSON null or missing
field, a Parquet null) the curated value is the default, converted from its text by the
column's text rules (as a CSV field, whatever the format); a value that is present is never
replaced, and one that does not convert still fails the job. The default's text is what
lakeline_core's registry (serde_yaml_ng, YAML 1.2) makes of the scalar: a string as it is, an
integer's digits, a float as Rust's f64 Display writes it, a bool `true`/`false`. A default
that is no value of its column's type is a registry error naming dataset and column. A required
column with a default takes nulls and stays REQUIRED; an optional one stays OPTIONAL."""

import dataclasses
import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import curate
from conftest import put, registry_file


def utc(*args, us=0):
    return dt.datetime(*args, microsecond=us, tzinfo=dt.timezone.utc)


def run_curate(spark, lake, key, reg):
    args = curate.parse_args(["--source", str(Path(lake) / key), "--lake-root", str(lake), "--registry", reg])
    return curate.run(spark, args)


def curated(spark, lake, key, reg, data=None):
    """The rows curated from `data` (already in the lake when None), and the first output's
    Arrow schema (nullability as the Parquet file has it)."""
    if data is not None:
        put(lake, key, data)
    summary = run_curate(spark, lake, key, reg)
    tables = [pq.read_table(p) for p in summary["outputs"]]
    return pa.concat_tables(tables).to_pylist(), tables[0].schema


def failure(spark, lake, key, reg, data):
    put(lake, key, data)
    with pytest.raises(curate.JobError) as e:
        run_curate(spark, lake, key, reg)
    return str(e.value)


def dataset(tmp_path, yaml_text, name="d"):
    return curate.dataset_from_registry(curate.load_registry(registry_file(tmp_path, yaml_text)), name)


# --- the default's text: the YAML scalar as the Rust registry reads it -------------------------

# (the scalar as written in `default: ...`, the text it stands for; None: no default)
YAML_TEXTS = [
    ("abc", "abc"),
    ("'5'", "5"),
    ('"x\\ty"', "x\ty"),
    ("12", "12"),
    ("-7", "-7"),
    ("+12", "12"),
    ("0x1F", "31"),  # YAML 1.2 integers: hex, octal, binary
    ("0o17", "15"),
    ("-0b101", "-5"),
    ("007", "007"),  # a leading zero makes a string in YAML 1.2 (PyYAML: octal 7)
    ("1_000", "1_000"),  # no separators in YAML 1.2 (PyYAML: 1000)
    ("18446744073709551616", "18446744073709551616"),  # beyond u64: still an integer (u128)
    ("0.5", "0.5"),
    ("1.0", "1"),  # Rust's f64 Display: no point for a whole number
    ("1e3", "1000"),  # a float in YAML 1.2 (PyYAML: the string 1e3)
    ("12.50", "12.5"),
    ("-0.0", "-0"),
    ("1e-7", "0.0000001"),
    ("1.5E+20", "150000000000000000000"),
    ("0.1", "0.1"),
    ("1e400", "1e400"),  # not finite: a string
    (".inf", "inf"),
    ("-.Inf", "-inf"),
    (".nan", "NaN"),
    ("true", "true"),
    ("FALSE", "false"),
    ("yes", "yes"),  # a string in YAML 1.2 (PyYAML: true)
    ("off", "off"),
    ("2026-01-31", "2026-01-31"),  # a string in YAML 1.2 (PyYAML: a date)
    ("2026-01-31 12:00:00", "2026-01-31 12:00:00"),
    ("12:30", "12:30"),  # PyYAML: the sexagesimal 750
    ("!!str 5", "5"),
    ("!!float 1", "1"),
    ("!!int '0x10'", "16"),
    ("~", None),
    ("null", None),
    ("", None),
]


def test_default_text_is_the_yaml_scalar_as_the_rust_registry_reads_it(tmp_path):
    columns = "".join(f"    - {{name: c{i}, type: string, default: {written}}}\n" for i, (written, _) in enumerate(YAML_TEXTS))
    ds = dataset(tmp_path, f"d:\n  key_pattern: raw/d/{{file}}\n  format: csv\n  columns:\n{columns}")
    got = [c.default for c in ds.columns]
    assert got == [text for _, text in YAML_TEXTS], [(w, g, t) for (w, t), g in zip(YAML_TEXTS, got) if g != t]
    # A block scalar is a string, its line break included; an anchored default is the same.
    ds = dataset(tmp_path, """
        d:
          key_pattern: raw/d/{file}
          format: csv
          columns:
            - name: a
              type: string
              default: |
                two
                lines
            - {name: b, type: int, default: &seven 7}
            - {name: c, type: int, default: *seven}
    """)
    assert [c.default for c in ds.columns] == ["two\nlines\n", "7", "7"]


def test_rust_float_text():
    cases = [(0.5, "0.5"), (1.0, "1"), (1e3, "1000"), (-0.0, "-0"), (0.0, "0"), (1e-7, "0.0000001"), (1e16, "10000000000000000"),
             (0.1 + 0.2, "0.30000000000000004"), (123456.789, "123456.789"), (-2.5e-3, "-0.0025"), (math.inf, "inf"),
             (-math.inf, "-inf"), (math.nan, "NaN"), (5e-324, "0." + "0" * 323 + "5")]
    assert [curate.rust_float_text(x) for x, _ in cases] == [text for _, text in cases]


# --- the registry check: a default must be a value of its column's type ------------------------

INVALID = [
    ("int", "abc", "default \"abc\" is not a valid int: an int is digits with an optional sign"),
    ("int", "1.5", "not a valid int: an int is digits"),
    ("int", "9223372036854775808", "not a valid int: beyond the 64-bit integers"),
    ("decimal(12,2)", "1.234", "not a valid decimal(12,2): 3 digits after the point, decimal(12,2) has 2"),
    ("decimal(12,2)", "12345678901", "11 digits before the point, decimal(12,2) has 10"),
    ("decimal(12,2)", "'1e3'", "not a valid decimal(12,2): a decimal is digits with at most one point (no exponent)"),  # a string: no exponent (1e3 is 1000)
    ("float", "abc", "not a valid float: a float is a number, NaN or inf"),
    ("bool", "maybe", "not a valid bool: a bool is one of true, t, yes"),
    ("date", "2026-02-30", "not a valid date: a date is a day of the calendar as YYYY-MM-DD"),
    ("date", "2026-1-31", "not a valid date"),
    ("timestamp", "2026-01-31", "not a valid timestamp: a timestamp is written like 2026-01-31T12:00:00Z"),
    ("timestamp", "'2026-01-31 24:00'", "not a valid timestamp: a field is out of range"),
    ("json", "5", "not a valid json: a json column holds an object or an array"),
    ("json", "'\"text\"'", "a json column holds an object or an array"),
    ("json", "'{\"a\": }'", "not a valid json: not valid JSON"),
    ("json", "'[NaN]'", "not valid JSON"),
    ("string", "[1, 2]", "default is no scalar"),
    ("int", "!!int abc", "default \"abc\" is not an integer (!!int)"),
]


@pytest.mark.parametrize("type_name, written, message", INVALID)
def test_an_invalid_default_is_a_registry_error_naming_dataset_and_column(tmp_path, type_name, written, message):
    reg = registry_file(tmp_path, f"""
        shop:
          key_pattern: raw/shop/{{file}}
          format: csv
          columns:
            - {{name: id, type: int}}
            - {{name: amount, type: "{type_name}", default: {written}}}
    """)
    with pytest.raises(curate.JobError) as e:
        curate.dataset_from_registry(curate.load_registry(reg), "shop")
    assert str(e.value).startswith("dataset shop: column 'amount': default ") and message in str(e.value), str(e.value)


def test_a_timestamp_default_is_checked_in_the_dataset_timezone(tmp_path):
    def check(default, timezone):
        return dataset(tmp_path, f"""
            z:
              key_pattern: raw/z/{{file}}
              format: csv
              {timezone}
              columns: [{{name: at, type: timestamp, default: "{default}"}}]
        """, "z")

    for local in ("2026-03-29 02:30", "2026-10-25 02:30", "2026-03-29T01:59:60"):  # a gap, an overlap, a leap second into the gap
        with pytest.raises(curate.JobError, match="dataset z: column 'at': default .* a local time that Europe/Berlin's clocks skip or show twice"):
            check(local, "timezone: Europe/Berlin")
        assert check(local, "").columns[0].default == local  # in UTC it is one instant
    assert check("2026-03-29T02:30:00+01:00", "timezone: Europe/Berlin").columns[0].default == "2026-03-29T02:30:00+01:00"


# texts per type: the registry check (plain Python) and the job's conversions (Spark) agree on each
AGREEMENT = {
    "int": ["0", "-12", "+7", "007", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "1.0", "1e3", "", " 1", "x"],
    "float": ["0.5", "-1", "1e3", "1E-3", ".5", "5.", "+.5e+2", "NaN", "-nan", "inf", "+Infinity", "-INF", "1e999", "e3", ".", "1,5", "0x1F", "1_0"],
    "decimal(12,2)": ["12.34", "+1.5", ".5", "5.", "-0.00", "007.5", "1.234", "1.500", "12345678901", "1e3", "", "."],
    "bool": ["true", "T", "Yes", "y", "1", "FALSE", "f", "No", "N", "0", "maybe", "", " true"],
    "date": ["2026-01-31", "0001-01-01", "9999-12-31", "0000-01-01", "2026-02-29", "2024-02-29", "2026-13-01", "2026-1-31", "26-01-31"],
    "timestamp": [
        "2026-01-31T12:30:00Z", "2026-01-31 12:30", "2026-01-31t12:30:59.123456789+05:30", "2026-01-31T12:30:00,5-0800",
        "2026-01-31T23:59:60z", "2026-01-31T24:00:00Z", "2026-01-31T12:60Z", "2026-01-31T12:30:61Z", "2026-01-31T12:30+24:00",
        "2026-01-31", "2026-01-31T12Z", "2026-02-30T12:00Z", "0000-01-01T00:00Z",
    ],
    "json": ["{}", "[]", ' {"a": [1, 2]} ', "[1,2,3]", "5", '"x"', "true", "null", "abc", ""],
    "string": ["", "anything", "007"],
}
ZONED = ["2026-03-29 01:59:59", "2026-03-29 02:00", "2026-03-29 02:59:59.999999", "2026-03-29 03:00", "2026-10-25 01:59:59",
         "2026-10-25 02:00", "2026-10-25 02:59:59", "2026-10-25 03:00", "2026-03-29T01:59:60", "2026-03-29T02:30+01:00"]


def spark_values(spark, values, conversion):
    from pyspark.sql import functions as F

    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i long, v string")
    return [r["c"] for r in df.select("i", conversion(F.col("v"), lambda e: e).alias("c")).orderBy("i").collect()]


def test_the_registry_check_agrees_with_the_jobs_conversions(spark):
    cases = [(t, None, texts) for t, texts in AGREEMENT.items()] + [("timestamp", "Europe/Berlin", ZONED)]
    for type_name, zone, texts in cases:
        converted = spark_values(spark, texts, curate.text_conversion(type_name, zone))
        checked = [curate.text_problem(type_name, t, zone) is None for t in texts]
        assert [v is not None for v in converted] == checked, (type_name, zone, list(zip(texts, converted, checked)))


# --- CSV/TSV ------------------------------------------------------------------------------------

EVERY_TYPE = """
d:
  key_pattern: raw/d/{file}
  format: csv
  null_values: ["", "NA"]
  columns:
    - {name: id, type: int, required: true}
    - {name: n, type: int, default: -7}
    - {name: x, type: float, default: 1e3}
    - {name: amount, type: "decimal(12,2)", default: 0.5}
    - {name: ok, type: bool, default: yes}
    - {name: day, type: date, default: 2026-01-31}
    - {name: at, type: timestamp, default: "2026-01-31 12:30:00.5"}
    - {name: at_offset, type: timestamp, default: "2026-01-31T12:30:00+02:00"}
    - {name: label, type: string, default: 007}
    - {name: attrs, type: json, default: '{"a": [1, 2]}'}
    - {name: must, type: int, required: true, default: 42}
    - {name: plain, type: string}
"""
#: What each column's nulls become (EVERY_TYPE's defaults, converted).
DEFAULTS = {
    "n": -7, "x": 1000.0, "amount": Decimal("0.50"), "ok": True, "day": dt.date(2026, 1, 31), "at": utc(2026, 1, 31, 12, 30, us=500000),
    "at_offset": utc(2026, 1, 31, 10, 30), "label": "007", "attrs": '{"a": [1, 2]}', "must": 42, "plain": None,
}


def test_csv_nulls_become_the_defaults_of_every_type(spark, lake, tmp_path):
    reg = registry_file(tmp_path, EVERY_TYPE)
    data = (
        "id,n,x,amount,ok,day,at,at_offset,label,attrs,must,plain\n"
        '1,5,2.5,12.34,false,2026-02-01,2026-02-01T00:00:00Z,2026-02-01 01:00+01:00,kept,"[ 1 ]",9,p\n'
        "2,,NA,,,NA,,,,,,\n"
        "3,0,0,0,0,0001-01-01,1970-01-01T00:00Z,1970-01-01T00:00Z,NULL,{},0,NA\n"  # present values: kept, zeros and all
    )
    out, schema = curated(spark, lake, "raw/d/every.csv", reg, data)
    assert out == [
        {"id": 1, "n": 5, "x": 2.5, "amount": Decimal("12.34"), "ok": False, "day": dt.date(2026, 2, 1), "at": utc(2026, 2, 1),
         "at_offset": utc(2026, 2, 1), "label": "kept", "attrs": "[ 1 ]", "must": 9, "plain": "p"},
        {"id": 2, **DEFAULTS},
        {"id": 3, "n": 0, "x": 0.0, "amount": Decimal("0.00"), "ok": False, "day": dt.date(1, 1, 1), "at": utc(1970, 1, 1),
         "at_offset": utc(1970, 1, 1), "label": "NULL", "attrs": "{}", "must": 0, "plain": None},
    ]
    # Nullability is the registry's `required`, default or not (as lakeline_core writes it).
    assert {f.name: f.nullable for f in schema} == {f: f not in ("id", "must") for f in ["id", *DEFAULTS]}
    assert schema.field("amount").type == pa.decimal128(12, 2) and schema.field("attrs").type == pa.string()


def test_csv_timestamp_defaults_in_the_dataset_timezone(spark, lake, tmp_path):
    reg = registry_file(tmp_path, """
        z:
          key_pattern: raw/z/{file}
          format: tsv
          timezone: europe/berlin
          columns:
            - {name: id, type: int, required: true}
            - {name: local, type: timestamp, default: "2026-07-01 12:00"}
            - {name: winter, type: timestamp, required: true, default: "2026-01-15T12:00:00.25"}
            - {name: offset, type: timestamp, default: "2026-07-01T12:00Z"}
    """)
    out, _ = curated(spark, lake, "raw/z/t.tsv", reg, "id\tlocal\twinter\toffset\n1\t\t\t\n2\t2026-07-01 14:00\t2026-01-15 14:00\t2026-07-01 14:00\n")
    assert out == [
        {"id": 1, "local": utc(2026, 7, 1, 10), "winter": utc(2026, 1, 15, 11, us=250000), "offset": utc(2026, 7, 1, 12)},
        {"id": 2, "local": utc(2026, 7, 1, 12), "winter": utc(2026, 1, 15, 13), "offset": utc(2026, 7, 1, 12)},
    ]


def test_a_present_value_that_does_not_convert_still_fails_the_job(spark, lake, tmp_path):
    reg = registry_file(tmp_path, EVERY_TYPE)
    msg = failure(spark, lake, "raw/d/bad.csv", reg, "id,n,x,amount,ok,day,at,at_offset,label,attrs,must,plain\n1,,,,,,,,,,x,\n")
    assert "bad.csv" in msg and 'column must (int): cannot convert the value "x"' in msg, msg
    msg = failure(spark, lake, "raw/d/bad.csv", reg, "id,n,x,amount,ok,day,at,at_offset,label,attrs,must,plain\n1,,,1.234,,,,,,,,\n")
    assert 'column amount (decimal(12,2)): cannot convert the value "1.234"' in msg, msg
    # A required column without a default still refuses its nulls.
    msg = failure(spark, lake, "raw/d/bad.csv", reg, "id,n,x,amount,ok,day,at,at_offset,label,attrs,must,plain\nNA,,,,,,,,,,,\n")
    assert "required column id holds a null" in msg, msg


def test_a_default_the_conversions_refuse_fails_the_job_where_used(spark, tmp_path):
    """The registry check and the conversions agree (tested above); were they not to, the job
    fails instead of writing a null, only where the default is used."""
    ds = dataset(tmp_path, EVERY_TYPE)
    bad = dataclasses.replace(ds, columns=tuple(dataclasses.replace(c, default="abc") if c.name == "n" else c for c in ds.columns))
    names = [c.name for c in ds.columns]
    present = ["1", "5", *[None] * 10]
    rows = spark.createDataFrame([present], ", ".join(f"`{n}` string" for n in names))
    assert curate.curate_text(rows, bad, "s.csv").collect()[0]["n"] == 5
    nulls = spark.createDataFrame([["1", *[None] * 11]], ", ".join(f"`{n}` string" for n in names))
    with pytest.raises(Exception, match=r'lakeline curate: s.csv: column n \(int\): cannot convert its default "abc"'):
        curate.curate_text(nulls, bad, "s.csv").collect()


BY_NAME = """
b:
  key_pattern: raw/b/{file}
  format: csv
  header: by_name
  extra_columns: allow
  null_values: {nulls}
  columns:
    - {name: id, type: int, required: true}
    - {name: must, type: int, required: true, default: 42}
    - {name: note, type: string, default: none}
    - {name: amount, type: "decimal(12,2)"}
"""


def test_by_name_columns_missing_from_the_header_take_their_defaults(spark, lake, tmp_path):
    reg = registry_file(tmp_path, BY_NAME.replace("{nulls}", '["", "NA"]'))
    out, schema = curated(spark, lake, "raw/b/missing.csv", reg, "amount,extra,id\n1.5,x,1\nNA,y,2\n")
    assert out == [
        {"id": 1, "must": 42, "note": "none", "amount": Decimal("1.50")},
        {"id": 2, "must": 42, "note": "none", "amount": None},
    ]
    assert [(f.name, f.nullable) for f in schema] == [("id", False), ("must", False), ("note", True), ("amount", True)]
    # Present in another order: kept; a null value there takes the default.
    out, _ = curated(spark, lake, "raw/b/present.csv", reg, "note,must,id\nn,7,1\nNA,,2\n")
    assert [(r["must"], r["note"]) for r in out] == [(7, "n"), (42, "none")]
    # Without null values a missing column with a default still has its default to hold (one
    # without a default fails the file, as before); an empty field is then a present value.
    reg = registry_file(tmp_path, BY_NAME.replace("{nulls}", "[]"))
    out, _ = curated(spark, lake, "raw/b/no-nulls.csv", reg, "id,amount,note\n1,1,\n")
    assert out == [{"id": 1, "must": 42, "note": "", "amount": Decimal("1.00")}]
    msg = failure(spark, lake, "raw/b/no-amount.csv", reg, "id\n1\n")
    assert "lacks the required column amount" in msg and "must" not in msg.split("lacks")[1], msg


def test_header_positions_with_defaults():
    declared = (("id", True), ("must", True), ("note", False))
    assert curate.header_positions(["id"], declared, "reject", "s", 1, defaulted={"must", "note"}) == [0, None, None]
    assert curate.header_positions(["id"], declared, "reject", "s", 1, has_null=False, defaulted={"must", "note"}) == [0, None, None]
    with pytest.raises(curate.JobError, match="lacks the required column must"):
        curate.header_positions(["id"], declared, "reject", "s", 1, defaulted={"note"})


# --- JSON Lines -------------------------------------------------------------------------------

JSONL = """
j:
  key_pattern: raw/j/{file}
  format: jsonl
  columns:
    - {name: id, type: int, required: true}
    - {name: n, type: int, default: 0x10}
    - {name: x, type: float, default: .5}
    - {name: ok, type: bool, default: "N"}
    - {name: at, type: timestamp, default: "2026-01-31 12:30"}
    - {name: s, type: string, default: 1.50}
    - {name: must, type: string, required: true, default: "-"}
"""
JSONL_EXTRA = """
    - {name: amount, type: "decimal(12,2)", default: "1.50"}
    - {name: attrs, type: json, default: ' [ ] '}
"""


@pytest.mark.parametrize("extra", ["", JSONL_EXTRA], ids=["json reader", "lines with decimals and json"])
def test_jsonl_null_and_missing_fields_become_the_defaults(spark, lake, tmp_path, extra):
    reg = registry_file(tmp_path, JSONL + extra)
    full = '{"id": 1, "n": 3, "x": 2, "ok": true, "at": "2026-02-01T00:00Z", "s": "", "must": "m", "amount": "2.5", "attrs": {"k": [1]}}'
    nulls = '{"id": 2, "n": null, "x": null, "ok": null, "at": null, "s": null, "must": null, "amount": null, "attrs": null}'
    out, schema = curated(spark, lake, "raw/j/j.jsonl", reg, "\n".join([full, nulls, '{"id": 3}']) + "\n")
    defaults = {"n": 16, "x": 0.5, "ok": False, "at": utc(2026, 1, 31, 12, 30), "s": "1.5", "must": "-"}
    present = {"n": 3, "x": 2.0, "ok": True, "at": utc(2026, 2, 1), "s": "", "must": "m"}  # an empty string is a value
    if extra:
        defaults.update(amount=Decimal("1.50"), attrs=" [ ] ")  # the default's text, verbatim
        present.update(amount=Decimal("2.50"), attrs='{"k":[1]}')
    assert out == [{"id": 1, **present}, {"id": 2, **defaults}, {"id": 3, **defaults}]
    assert [f.name for f in schema if not f.nullable] == ["id", "must"]


# --- Parquet ------------------------------------------------------------------------------------

PARQUET = """
p:
  key_pattern: raw/p/{file}
  format: parquet
  timezone: America/New_York
  columns:
    - {name: id, type: int, required: true}
    - {name: n, type: int, default: 7}
    - {name: x, type: float, default: -1}
    - {name: amount, type: "decimal(12,2)", default: "-0.5"}
    - {name: ok, type: bool, default: t}
    - {name: day, type: date, default: "2026-01-31"}
    - {name: at, type: timestamp, required: true, default: "2026-07-04 09:00"}
    - {name: s, type: string, default: ""}
    - {name: attrs, type: json, default: '{"b":null}'}
"""


def test_parquet_nulls_become_the_defaults(spark, lake, tmp_path):
    reg = registry_file(tmp_path, PARQUET)
    p = Path(lake) / "raw/p/in.parquet"
    p.parent.mkdir(parents=True)
    pq.write_table(pa.table({
        "id": pa.array([1, 2], pa.int64()),
        "n": pa.array([None, 3], pa.int32()),
        "x": pa.array([None, 0.25], pa.float32()),
        "amount": pa.array([None, Decimal("12.30")], pa.decimal128(10, 2)),
        "ok": pa.array([None, False]),
        "day": pa.array([None, dt.date(2026, 2, 2)], pa.date32()),
        "at": pa.array([None, dt.datetime(2026, 2, 2, 10)], pa.timestamp("us", tz="UTC")),
        "s": pa.array([None, "s"]),
        "attrs": pa.array([None, "[1]"]),
        "extra": pa.array([None, "ignored"]),
    }), p)
    out, schema = curated(spark, lake, "raw/p/in.parquet", reg)
    assert out == [
        {"id": 1, "n": 7, "x": -1.0, "amount": Decimal("-0.50"), "ok": True, "day": dt.date(2026, 1, 31),
         "at": utc(2026, 7, 4, 13), "s": "", "attrs": '{"b":null}'},  # the default's local time in New York
        {"id": 2, "n": 3, "x": 0.25, "amount": Decimal("12.30"), "ok": False, "day": dt.date(2026, 2, 2),
         "at": utc(2026, 2, 2, 10), "s": "s", "attrs": "[1]"},
    ]
    assert [f.name for f in schema if not f.nullable] == ["id", "at"]
