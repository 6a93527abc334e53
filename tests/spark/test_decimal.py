"""decimal(p,s) columns in curate.py: the registry type, the text rules (CSV/TSV fields and
JSON strings), JSON numbers (integers exact, fractions through the double's shortest text),
Parquet inputs (a decimal of the same scale and no more digits only), the Parquet written
(Spark's decimal encoding: INT32 up to 9 digits, INT64 up to 18, FIXED_LEN_BYTE_ARRAY above).
Values are compared as decimal.Decimal, never as floats; expectations are written out by hand,
and the randomised tests hold the Spark expressions to a plain-Python statement of the rules."""

import json
import math
import random
import re
import struct
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import curate
from conftest import put, registry_file

# --- the rules in plain Python: what the Spark expressions must agree with --------------------


def text_rule(text, precision, scale):
    """The value of `text` in decimal(precision, scale), or None when refused."""
    if not re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)", text):
        return None
    int_part, _, frac = text.lstrip("+-").partition(".")
    if len(frac) > scale or len(int_part.lstrip("0")) > precision - scale:
        return None
    return Decimal(text)


def json_double_text(x):
    """The text a JSON number with a fraction or exponent stands for, as Rust's f64 Display
    writes it (lakeline_core::types::json_decimal): the shortest round-trip text of its double
    (repr), an exponent written out positionally, and no point for a whole number (`12`)."""
    text = format(Decimal(repr(x)), "f")
    return text[:-2] if text.endswith(".0") else text


def json_double_rule(x, precision, scale):
    if not math.isfinite(x):
        return None
    text = json_double_text(x)
    if len(text.lstrip("-").replace(".", "").lstrip("0")) > 15:
        return None
    return text_rule(text, precision, scale)


def spark_values(spark, values, spark_type, conversion):
    """`conversion(column, stage)` applied to `values` in Spark, in order."""
    from pyspark.sql import functions as F

    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], f"i long, v {spark_type}")
    rows = df.select("i", conversion(F.col("v"), lambda e: e).alias("d")).orderBy("i").collect()
    return [r["d"] for r in rows]


def same(a, b):
    """Equal as decimals (scale aside: Spark's value carries the column's scale), or both None."""
    return (a is None and b is None) or (a is not None and b is not None and a == b)


# --- the registry -------------------------------------------------------------------------------


def test_decimal_types_in_the_registry(tmp_path):
    for written, canonical in [
        ("decimal(12,2)", "decimal(12,2)"), ("decimal(12, 2)", "decimal(12,2)"), ("decimal(1,0)", "decimal(1,0)"),
        ("decimal(38,38)", "decimal(38,38)"), ("decimal(9, 9)", "decimal(9,9)"),
    ]:
        assert curate.column_type(written) == canonical
        assert curate.decimal_params(canonical) == tuple(int(n) for n in canonical[8:-1].split(","))
    for bad in ("decimal(39,2)", "decimal(0,0)", "decimal(5,6)", "decimal(12)", "decimal(12,2", "Decimal(12,2)",
                "decimal(-1,0)", "decimal(a,b)", "decimal(1.5,0)", "decimal", "money"):
        with pytest.raises(ValueError):
            curate.column_type(bad)
    reg = curate.load_registry(registry_file(tmp_path, """
        d:
          key_pattern: raw/d/{file}
          format: csv
          columns:
            - {name: id, type: int}
            - {name: amount, type: "decimal(40,2)"}
    """))
    with pytest.raises(curate.JobError, match=r"column 'amount' has type 'decimal\(40,2\)': precision must be 1 to 38"):
        curate.dataset_from_registry(reg, "d")
    from pyspark.sql import types as T

    assert curate.spark_type("decimal(12,2)") == T.DecimalType(12, 2)
    assert curate.SPARK_SQL_CONF["spark.sql.parquet.writeLegacyFormat"] == "false"


# --- text: CSV/TSV fields and JSON strings -------------------------------------------------------

ACCEPTED_12_2 = [
    ("12.34", "12.34"), ("+1.5", "1.5"), (".5", "0.5"), ("5.", "5"), ("-0.00", "0"), ("007.5", "7.5"),
    ("0", "0"), ("-12", "-12"), ("9999999999.99", "9999999999.99"), ("-9999999999.99", "-9999999999.99"),
    ("0000000000009999999999", "9999999999"), ("0.1", "0.1"), ("1.50", "1.5"), ("+.05", "0.05"),
]
REFUSED_12_2 = [
    "1e3", "1E3", "1.5e2", "NaN", "nan", "Infinity", "-inf", " 1.5", "1.5 ", "1,5", "1 000", "1_000", "1.555",
    "1.500", "12345678901", "12345678901.5", "99999999999.99", "", ".", "+", "-", "+-1", "1.2.3", "0x1A", "١٢",
    "1.5\n", "12\n", "\t1", "--1", "12-", "$12",
]


def test_decimal_text_acceptance_table(spark):
    texts = [t for t, _ in ACCEPTED_12_2] + REFUSED_12_2
    got = spark_values(spark, texts, "string", curate.text_conversion("decimal(12,2)"))
    for (text, want), value in zip(ACCEPTED_12_2, got):
        assert value == Decimal(want) and value.as_tuple().exponent == -2, (text, value)
    for text, value in zip(REFUSED_12_2, got[len(ACCEPTED_12_2):]):
        assert value is None, (text, value)

    # The limits of other shapes: no digit after the point at scale 0, none before it at p = s.
    cases = {
        "decimal(5,0)": [("12345", Decimal(12345)), ("-012345", Decimal(-12345)), ("123456", None), ("1.", Decimal(1)), ("1.0", None), (".0", None)],
        "decimal(3,3)": [(".123", Decimal("0.123")), ("0.123", Decimal("0.123")), ("-000.5", Decimal("-0.5")), ("1.000", None), (".1234", None)],
        "decimal(38,10)": [
            ("1234567890123456789012345678.0123456789", Decimal("1234567890123456789012345678.0123456789")),
            ("-99999999999999999999999999999999999999e0", None),
            ("12345678901234567890123456789.0", None),
            ("0.00000000001", None),
        ],
        "decimal(1,0)": [("9", Decimal(9)), ("-9", Decimal(-9)), ("10", None), ("0", Decimal(0))],
    }
    for ty, table in cases.items():
        got = spark_values(spark, [t for t, _ in table], "string", curate.text_conversion(ty))
        assert all(same(g, want) for g, (_, want) in zip(got, table)), (ty, list(zip(table, got)))


def test_decimal_text_agrees_with_the_rules_on_random_text(spark):
    rng = random.Random(7)
    alphabet = "0000123456789..+-e "
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9))) for _ in range(3000)]
    for ty, (p, s) in (("decimal(6,2)", (6, 2)), ("decimal(4,0)", (4, 0)), ("decimal(3,3)", (3, 3))):
        got = spark_values(spark, texts, "string", curate.text_conversion(ty))
        bad = [(t, g, text_rule(t, p, s)) for t, g in zip(texts, got) if not same(g, text_rule(t, p, s))]
        assert not bad, (ty, bad[:10])


# --- JSON numbers with a fraction or exponent: the double's shortest text ------------------------


def test_json_double_text_table(spark):
    table = [
        # x, decimal(12,2), decimal(38,10)
        (12.5, "12.5", "12.5"), (12.0, "12", "12"), (1e3, "1000", "1000"), (-0.0, "0", "0"), (0.0, "0", "0"),
        (12.345, None, "12.345"), (0.1 + 0.2, None, None),  # 0.30000000000000004: 17 digits
        (1e-7, None, "0.0000001"), (1.5e-5, None, "0.000015"), (1e-10, None, "0.0000000001"), (1e-11, None, None),
        (1e16, None, None),  # 10000000000000000: 17 digits
        (12345678901234.0, None, "12345678901234"),  # 12345678901234.0: 15 digits
        (123456789012345.0, None, "123456789012345"),  # 15 digits: a whole number has no `.0`
        (1234567890123456.0, None, None),  # 16 digits
        (9999999999.99, "9999999999.99", "9999999999.99"), (99999999999.9, None, "99999999999.9"),
        (0.1, "0.1", "0.1"), (-2.5e-1, "-0.25", "-0.25"), (5e-324, None, None), (1.7976931348623157e308, None, None),
        (float("nan"), None, None), (float("inf"), None, None), (float("-inf"), None, None),
    ]
    xs = [x for x, *_ in table]
    for i, ty in enumerate(("decimal(12,2)", "decimal(38,10)")):
        p, s = curate.decimal_params(ty)
        got = spark_values(spark, xs, "double", lambda v, stage: curate._decimal_from_json_double(v, p, s, stage))
        for row, g in zip(table, got):
            want = row[1 + i]
            assert same(g, None if want is None else Decimal(want)), (ty, row[0], g)
            assert same(g, json_double_rule(row[0], p, s)), (ty, row[0], g)
    # Scale 0 takes a whole double (12.0 is `12`, as Rust prints it) and nothing else.
    got = spark_values(spark, [12.0, 12.5, 1e16], "double", lambda v, stage: curate._decimal_from_json_double(v, 38, 0, stage))
    assert got == [Decimal(12), None, None]


def random_doubles(rng, n):
    out = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.5:  # what people write: a few digits, a point somewhere
            digits = str(rng.randint(0, 10 ** rng.randint(1, 17)))
            point = rng.randint(0, len(digits))
            exponent = "e" + str(rng.randint(-30, 30)) if rng.random() < 0.2 else ""
            out.append(float(("-" if rng.random() < 0.3 else "") + digits[:point] + "." + digits[point:] + exponent))
        elif kind < 0.8:  # any bit pattern of a moderate exponent
            bits = (rng.getrandbits(1) << 63) | (rng.randint(1023 - 60, 1023 + 60) << 52) | rng.getrandbits(52)
            out.append(struct.unpack("<d", struct.pack("<Q", bits))[0])
        else:  # whole numbers, and neighbours of round values
            base = float(rng.randint(0, 10**rng.randint(1, 17)))
            out.append(math.nextafter(base, math.inf) if rng.random() < 0.3 else base)
    return out


def test_json_doubles_agree_with_pythons_shortest_text(spark):
    xs = random_doubles(random.Random(11), 4000)
    for ty in ("decimal(38,10)", "decimal(12,2)", "decimal(38,0)", "decimal(20,18)"):
        p, s = curate.decimal_params(ty)
        got = spark_values(spark, xs, "double", lambda v, stage: curate._decimal_from_json_double(v, p, s, stage))
        bad = [(repr(x), g, json_double_rule(x, p, s)) for x, g in zip(xs, got) if not same(g, json_double_rule(x, p, s))]
        assert not bad, (ty, bad[:10])
        accepted = sum(g is not None for g in got)
        # Every scale accepts plenty: scale 0 the whole doubles below 1e15 (`12.0` is `12`).
        assert accepted > 200, (ty, accepted)


# --- curate runs --------------------------------------------------------------------------------

DECIMALS = """
m:
  key_pattern: raw/m/dt={date}/{file}
  format: {format}
  null_values: ["", "NA"]
  columns:
    - {name: id, type: int, required: true}
    - {name: small, type: "decimal(9,2)", required: true}
    - {name: amount, type: "decimal(12, 2)"}
    - {name: wide, type: "decimal(38,10)"}
"""


def registry(tmp_path, fmt):
    return registry_file(tmp_path, DECIMALS.replace("{format}", fmt))


def run_curate(spark, lake, key, reg):
    args = curate.parse_args(["--source", str(Path(lake) / key), "--lake-root", str(lake), "--registry", reg])
    return curate.run(spark, args)


def read_outputs(summary):
    tables = [pq.read_table(p) for p in summary["outputs"]]
    return pa.concat_tables(tables).to_pylist(), pq.ParquetFile(summary["outputs"][0])


def failure(spark, lake, key, reg):
    with pytest.raises(curate.JobError) as e:
        run_curate(spark, lake, key, reg)
    return str(e.value)


def check_decimal_schema(pf):
    """Spark's encoding of each decimal column, and the declared precision and scale."""
    cols = {c.name: c for c in (pf.schema.column(i) for i in range(len(pf.schema)))}
    for name, physical, (p, s), required in [
        ("small", "INT32", (9, 2), True), ("amount", "INT64", (12, 2), False), ("wide", "FIXED_LEN_BYTE_ARRAY", (38, 10), False),
    ]:
        c = cols[name]
        assert c.physical_type == physical, (name, c.physical_type)
        assert json.loads(c.logical_type.to_json())["Type"] == "Decimal" and (c.precision, c.scale) == (p, s), name
        assert c.max_definition_level == (0 if required else 1), name
        assert pf.schema_arrow.field(name).type == pa.decimal128(p, s)
    assert cols["wide"].length == 16


def test_csv_decimals_are_curated_exactly(spark, lake, tmp_path):
    reg = registry(tmp_path, "csv")
    key = "raw/m/dt=2026-11-25/money.csv"
    put(lake, key, (
        "id,small,amount,wide\n"
        "1,12.34,12.34,12.34\n"
        "2,+1.5,.5,5.\n"
        "3,-0.00,007.5,-0\n"
        "4,9999999.99,-9999999999.99,1234567890123456789012345678.0123456789\n"
        "5,0,NA,\n"
        '6,"-1.2","0.01",-9999999999999999999999999999.9999999999\n'
    ))
    summary = run_curate(spark, lake, key, reg)
    out, pf = read_outputs(summary)
    assert summary["rows"] == 6
    D = Decimal
    assert [(r["id"], r["small"], r["amount"], r["wide"]) for r in out] == [
        (1, D("12.34"), D("12.34"), D("12.34")),
        (2, D("1.5"), D("0.5"), D("5")),
        (3, D("0"), D("7.5"), D("0")),
        (4, D("9999999.99"), D("-9999999999.99"), D("1234567890123456789012345678.0123456789")),
        (5, D("0"), None, None),
        (6, D("-1.2"), D("0.01"), D("-9999999999999999999999999999.9999999999")),
    ]
    assert all(isinstance(r["amount"], Decimal) for r in out if r["amount"] is not None)
    assert [r["small"].as_tuple().exponent for r in out] == [-2] * 6 and out[0]["wide"].as_tuple().exponent == -10
    check_decimal_schema(pf)


def test_a_decimal_value_that_does_not_fit_fails_naming_column_and_value(spark, lake, tmp_path):
    reg = registry(tmp_path, "csv")
    for bad_row, column, value in [
        ("1,1.555,1,1", "small (decimal(9,2))", "1.555"),
        ("1,1,1e3,1", "amount (decimal(12,2))", "1e3"),
        ("1,1,12345678901,1", "amount (decimal(12,2))", "12345678901"),
        ("1,1,1.50,1", None, None),  # fine: the file passes, two digits after the point
        ("1,1,1,1.00000000000", "wide (decimal(38,10))", "1.00000000000"),
        ("1,10000000,1,1", "small (decimal(9,2))", "10000000"),
        ("1,NaN,1,1", "small (decimal(9,2))", "NaN"),
    ]:
        key = "raw/m/dt=2026-11-25/bad.csv"
        put(lake, key, "id,small,amount,wide\n" + bad_row + "\n")
        if column is None:
            assert read_outputs(run_curate(spark, lake, key, reg))[0][0]["amount"] == Decimal("1.5")
            continue
        msg = failure(spark, lake, key, reg)
        assert f"column {column}" in msg and f'"{value}"' in msg and "bad.csv" in msg, msg
    put(lake, "raw/m/dt=2026-11-25/null.csv", "id,small,amount,wide\n1,NA,1,1\n")
    assert "required column small holds a null" in failure(spark, lake, "raw/m/dt=2026-11-25/null.csv", reg)


def test_jsonl_decimals_strings_integers_and_doubles(spark, lake, tmp_path):
    reg = registry(tmp_path, "jsonl")
    key = "raw/m/dt=2026-11-25/money.jsonl"
    lines = [
        '\ufeff{"id": 1, "small": "12.34", "amount": 12.5, "wide": 12}',
        '{"id": 2, "small": "+1.5", "amount": "-0.00", "wide": "1234567890123456789012345678"}',
        "   ",
        '{"id": 3, "small": 7, "amount": 1e3, "wide": 1e-7}',
        '{"id": 4, "small": -0.0, "amount": null, "wide": 0.1}',
        '{"id": 5, "small": ".5", "wide": "-0.0000000001"}\r',
        '{"id": 6, "small": 9999999.99, "amount": 12.50, "wide": -2.5E-1, "extra": "ignored"}',
    ]
    put(lake, key, "\n".join(lines) + "\n")
    out, pf = read_outputs(run_curate(spark, lake, key, reg))
    D = Decimal
    assert [(r["id"], r["small"], r["amount"], r["wide"]) for r in out] == [
        (1, D("12.34"), D("12.5"), D("12")),
        (2, D("1.5"), D("0"), D("1234567890123456789012345678")),  # a string is exact
        (3, D("7"), D("1000"), D("0.0000001")),
        (4, D("0"), None, D("0.1")),
        (5, D("0.5"), None, D("-0.0000000001")),
        (6, D("9999999.99"), D("12.5"), D("-0.25")),  # 12.50 is the double 12.5
    ]
    check_decimal_schema(pf)


@pytest.mark.parametrize("field, column, shown", [
    ('"amount": 12.345', "amount", "12.345"),  # three digits after the point
    ('"amount": "12.50"', None, None),  # a string keeps its trailing zero: fine at scale 2
    ('"amount": "12.500"', "amount", "12.500"),  # ...and is refused beyond it
    ('"amount": "1e3"', "amount", "1e3"),  # an exponent in a string
    ('"amount": 12345678901', "amount", "12345678901"),  # 11 digits before the point
    ('"amount": 0.30000000000000004', "amount", "0.30000000000000004"),  # more than 15 digits
    ('"wide": 0.30000000000000004', "wide", "0.30000000000000004"),  # ...whatever the scale
    ('"amount": true', "amount", "true"),
    ('"amount": [1]', "amount", "[1]"),
    ('"amount": {"v": 1}', "amount", '{"v":1}'),
    ('"amount": "NaN"', "amount", "NaN"),
    ('"amount": ""', "amount", ""),
    ('"small": 1e16', "small", "1.0E16"),  # the reader's text of the double
    # An integer beyond i64 and u64 is a double to serde_json: inexact, refused by both.
    ('"wide": 1234567890123456789012345678', "wide", "1234567890123456789012345678"),
])
def test_jsonl_decimal_refusals(spark, lake, tmp_path, field, column, shown):
    reg = registry(tmp_path, "jsonl")
    key = "raw/m/dt=2026-11-25/bad.jsonl"
    line = '{"id": 1, "small": 1, ' + field + "}"
    put(lake, key, line + "\n")
    if column is None:
        run_curate(spark, lake, key, reg)
        return
    msg = failure(spark, lake, key, reg)
    assert f"column {column} (decimal(" in msg and f'"{shown}"' in msg and "bad.jsonl" in msg, msg


def test_jsonl_with_decimals_reads_lines_as_the_json_reader_does(spark, lake, tmp_path):
    """Such datasets parse lines with from_json (see read_jsonl): what the JSON reader refuses
    still fails the file, a line of invalid UTF-8 and a malformed line included."""
    reg = registry(tmp_path, "jsonl")
    put(lake, "raw/m/dt=2026-11-25/utf8.jsonl", b'{"id": 1, "small": 1, "note": "caf\xe9"}\n')
    msg = failure(spark, lake, "raw/m/dt=2026-11-25/utf8.jsonl", reg)
    assert "utf8.jsonl" in msg and "not valid UTF-8" in msg, msg
    put(lake, "raw/m/dt=2026-11-25/broken.jsonl", '{"id": 1, "small": 1}\n{"id": 2, "small": \n')
    msg = failure(spark, lake, "raw/m/dt=2026-11-25/broken.jsonl", reg)
    assert "broken.jsonl: Spark failed" in msg, msg  # as from the JSON reader (FAILFAST)
    put(lake, "raw/m/dt=2026-11-25/int.jsonl", '{"id": 1.5, "small": 1}\n')
    assert "int.jsonl" in failure(spark, lake, "raw/m/dt=2026-11-25/int.jsonl", reg)


def test_parquet_decimal_inputs_of_the_same_scale_only(spark, lake, tmp_path):
    reg = registry(tmp_path, "parquet")
    D = Decimal

    def write(name, **cols):
        base = {
            "id": pa.array([1, 2], pa.int64()),
            "small": pa.array([D("1.25"), D("-3.00")], pa.decimal128(9, 2)),
            "amount": pa.array([D("12.34"), None], pa.decimal128(10, 2)),  # fewer digits: widened
            "wide": pa.array([D("1.0123456789"), D("-12345678901234567890123456.5")], pa.decimal128(37, 10)),
        }
        base.update(cols)
        p = Path(lake) / "raw/m/dt=2026-11-25" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(base), p)
        return f"raw/m/dt=2026-11-25/{name}"

    out, pf = read_outputs(run_curate(spark, lake, write("ok.parquet"), reg))
    assert [(r["small"], r["amount"], r["wide"]) for r in out] == [
        (D("1.25"), D("12.34"), D("1.0123456789")), (D("-3.00"), None, D("-12345678901234567890123456.5")),
    ]
    check_decimal_schema(pf)
    for name, col, arr, found in [
        ("scale.parquet", "amount", pa.array([D("1.234"), None], pa.decimal128(10, 3)), "decimal(10,3)"),
        ("digits.parquet", "amount", pa.array([D("1.23"), None], pa.decimal128(13, 2)), "decimal(13,2)"),
        ("float.parquet", "amount", pa.array([1.25, None], pa.float64()), "double"),
        ("int.parquet", "amount", pa.array([1, None], pa.int64()), "bigint"),
        ("int32.parquet", "small", pa.array([1, 2], pa.int32()), "int"),
        ("text.parquet", "amount", pa.array(["1.25", None]), "string"),
    ]:
        msg = failure(spark, lake, write(name, **{col: arr}), reg)
        assert f"column {col} is {found} in the file, which does not convert to decimal(" in msg, msg
