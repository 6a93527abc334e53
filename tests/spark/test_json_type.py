"""json columns in curate.py: an object or an array kept as JSON text, curated as a string
(Parquet UTF8), nullable unless required. CSV/TSV fields are kept verbatim; JSON Lines fields
become their compact text, keys in their order, as Spark's JSON reader (Jackson) writes it; a
string, number or boolean in a json column fails the job (validation refuses them); Parquet
string columns (UTF8 or JSON) are kept as their text.

Where Jackson's compact text differs from serde_json's (the curate Lambda's `Value::to_string`)
the expectations below say so: numbers are re-written from the double or integer the parser
made of them, and a few string escapes differ."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import curate
from conftest import put, registry_file

JSON_DS = """
j:
  key_pattern: raw/j/{file}
  format: {format}
  null_values: ["", "NA"]
  columns:
    - {name: id, type: int, required: true}
    - {name: doc, type: json}
    - {name: tags, type: json, required: true}
    - {name: note, type: string}
"""
DECLARED = ["id", "doc", "tags", "note"]


def registry(tmp_path, fmt):
    return registry_file(tmp_path, JSON_DS.replace("{format}", fmt))


def run_curate(spark, lake, key, reg):
    args = curate.parse_args(["--source", str(Path(lake) / key), "--lake-root", str(lake), "--registry", reg])
    return curate.run(spark, args)


def curated(spark, lake, key, reg, data):
    """The rows curated from `data`, and the first output's Parquet file."""
    put(lake, key, data)
    summary = run_curate(spark, lake, key, reg)
    tables = [pq.read_table(p) for p in summary["outputs"]]
    assert all(t.schema.names == DECLARED for t in tables)
    return pa.concat_tables(tables).to_pylist(), pq.ParquetFile(summary["outputs"][0])


def failure(spark, lake, key, reg, data):
    put(lake, key, data)
    with pytest.raises(curate.JobError) as e:
        run_curate(spark, lake, key, reg)
    return str(e.value)


def check_json_schema(pf):
    """doc and tags are UTF8 strings, tags REQUIRED (a required column), doc optional."""
    cols = {c.name: c for c in (pf.schema.column(i) for i in range(len(pf.schema)))}
    for name, required in (("doc", False), ("tags", True)):
        c = cols[name]
        assert c.physical_type == "BYTE_ARRAY" and json.loads(c.logical_type.to_json())["Type"] == "String", name
        assert c.max_definition_level == (0 if required else 1), name
        assert pf.schema_arrow.field(name).type == pa.string()


# --- the registry -------------------------------------------------------------------------------


def test_json_in_the_registry(tmp_path):
    from pyspark.sql import types as T

    assert curate.column_type("json") == "json" and curate.decimal_params("json") is None
    assert curate.spark_type("json") == T.StringType()
    with pytest.raises(ValueError, match="unknown type 'JSON': use string, int, float, bool, date, timestamp, json or decimal"):
        curate.column_type("JSON")
    ds = curate.dataset_from_registry(curate.load_registry(registry(tmp_path, "csv")), "j")
    schema = curate.curated_schema(ds)
    assert [(f.name, f.dataType, f.nullable) for f in schema.fields][1:3] == [("doc", T.StringType(), True), ("tags", T.StringType(), False)]


# --- CSV/TSV: the field's text, verbatim ---------------------------------------------------------


def test_csv_json_fields_are_kept_verbatim(spark, lake, tmp_path):
    reg = registry(tmp_path, "csv")
    data = (
        'id,doc,tags,note\n'
        '1,"{""a"": 1, ""b"": [true, null]}","[1, ""x,y""]",plain\n'
        '2,,[],NA\n'
        '3," { ""multi"":\r\n ""line"", ""q"": ""say \\""hi\\"""" } ","[{""k"": ""v""}, 2.50, 1e3]",x\n'
        '4,NA,"[""NA""]",\n'
    )
    out, pf = curated(spark, lake, "raw/j/docs.csv", reg, data)
    assert out == [
        {"id": 1, "doc": '{"a": 1, "b": [true, null]}', "tags": '[1, "x,y"]', "note": "plain"},
        {"id": 2, "doc": None, "tags": "[]", "note": None},
        # Whitespace, line breaks, escapes and numbers exactly as written.
        {"id": 3, "doc": ' { "multi":\r\n "line", "q": "say \\"hi\\"" } ', "tags": '[{"k": "v"}, 2.50, 1e3]', "note": "x"},
        {"id": 4, "doc": None, "tags": '["NA"]', "note": None},
    ]
    check_json_schema(pf)
    # TSV alike.
    tsv = registry_file(tmp_path, JSON_DS.replace("{format}", "tsv"))
    out, _ = curated(spark, lake, "raw/j/docs.tsv", tsv, 'id\tdoc\ttags\tnote\n7\t{"a": [1, 2]}\t[ ]\tn\n')
    assert out == [{"id": 7, "doc": '{"a": [1, 2]}', "tags": "[ ]", "note": "n"}]


@pytest.mark.parametrize("field", ['"""text"""', "42", "true", "{broken", '"[1, 2] x"', "null"])
def test_a_csv_json_field_that_is_no_object_or_array_fails_the_job(spark, lake, tmp_path, field):
    """Validation refuses these (a scalar, or text that is not JSON); the job keeps text
    verbatim, but one that does not even look like an object or an array fails it."""
    msg = failure(spark, lake, "raw/j/bad.csv", registry(tmp_path, "csv"), f"id,doc,tags,note\n1,{field},[],n\n")
    assert "bad.csv" in msg and "column doc (json): cannot convert the value" in msg, msg


def test_a_required_json_column_holding_a_null_fails_the_job(spark, lake, tmp_path):
    msg = failure(spark, lake, "raw/j/null.csv", registry(tmp_path, "csv"), "id,doc,tags,note\n1,{},NA,n\n")
    assert "required column tags holds a null" in msg, msg


# --- JSON Lines: the compact text --------------------------------------------------------------


def test_jsonl_objects_and_arrays_become_their_compact_text(spark, lake, tmp_path):
    reg = registry(tmp_path, "jsonl")
    lines = [
        '\ufeff{"id": 1, "doc": {"z": 1, "a": {"y": [1, 2, {"k": null}], "b": "x"}}, "tags": ["a", {"b": 2}]}',
        '{"id": 2, "doc": null, "tags": [], "note": "n"}',
        '   ',
        '{"id": 3, "tags": [[]], "doc": { "spaced" : [ 1 , 2 ] ,\t"e" : { } }}\r',
        '{"id": 4, "doc": {"s": "caf\\u00e9 \\/ \\"q\\" \\\\ \\t\\n", "t": true, "f": false}, "tags": [null, "NA", ""]}',
        '{"id": 5, "doc": [{"b": 1, "a": 2}, [3, [4]]], "tags": {"k": "v"}, "extra": {"ignored": 1}}',
    ]
    out, pf = curated(spark, lake, "raw/j/docs.jsonl", reg, "\n".join(lines) + "\n")
    assert out == [
        {"id": 1, "doc": '{"z":1,"a":{"y":[1,2,{"k":null}],"b":"x"}}', "tags": '["a",{"b":2}]', "note": None},
        {"id": 2, "doc": None, "tags": "[]", "note": "n"},
        {"id": 3, "doc": '{"spaced":[1,2],"e":{}}', "tags": "[[]]", "note": None},
        {"id": 4, "doc": '{"s":"café / \\"q\\" \\\\ \\t\\n","t":true,"f":false}', "tags": '[null,"NA",""]', "note": None},
        {"id": 5, "doc": '[{"b":1,"a":2},[3,[4]]]', "tags": '{"k":"v"}', "note": None},
    ]
    check_json_schema(pf)


@pytest.mark.parametrize("value", ['"[1, 2]"', '"{\\"a\\": 1}"', '"text"', '""', "12", "-1.5e3", "true", "false"])
def test_a_jsonl_scalar_in_a_json_column_fails_the_job(spark, lake, tmp_path, value):
    """Read as a string, a JSON string would be its content, unquoted (`"[1, 2]"` would pass
    for the array): the job reads the field again as an object or an array and fails."""
    reg = registry(tmp_path, "jsonl")
    data = '{"id": 1, "doc": {"fine": 1}, "tags": []}\n{"id": 2, "doc": ' + value + ', "tags": []}\n'
    msg = failure(spark, lake, "raw/j/bad.jsonl", reg, data)
    assert "bad.jsonl" in msg and "column doc (json): cannot convert the value" in msg, msg


def test_jsonl_json_columns_with_decimals_and_timestamps(spark, lake, tmp_path):
    """Datasets with json columns read lines as text (as decimal ones do): both at once, and a
    json column next to a decimal and a zoned timestamp."""
    from decimal import Decimal

    reg = registry_file(tmp_path, """
        m:
          key_pattern: raw/m/{file}
          format: jsonl
          timezone: Europe/Berlin
          columns:
            - {name: amount, type: "decimal(12,2)"}
            - {name: attrs, type: json}
            - {name: at, type: timestamp}
    """)
    put(lake, "raw/m/a.jsonl", '{"amount": 12.5, "attrs": {"b": [1, 2.5], "a": null}, "at": "2026-07-15 10:00"}\n'
                               '{"amount": "1.05", "attrs": ["x"], "at": "2026-01-15T10:00:00Z"}\n')
    summary = run_curate(spark, lake, "raw/m/a.jsonl", reg)
    rows = pq.read_table(summary["outputs"][0]).to_pylist()
    assert [(r["amount"], r["attrs"], r["at"].isoformat()) for r in rows] == [
        (Decimal("12.50"), '{"b":[1,2.5],"a":null}', "2026-07-15T08:00:00+00:00"),
        (Decimal("1.05"), '["x"]', "2026-01-15T10:00:00+00:00"),
    ]
    put(lake, "raw/m/b.jsonl", '{"amount": 1, "attrs": "{}"}\n')
    with pytest.raises(curate.JobError, match="column attrs \\(json\\): cannot convert the value"):
        run_curate(spark, lake, "raw/m/b.jsonl", reg)


# The field's JSON, the text Spark (Jackson 2.15, Java 17) curates. Where serde_json's
# Value::to_string (the curate Lambda) writes something else, it is the comment.
JACKSON_TEXT = [
    ('{"a": 1, "b": [true, null]}', '{"a":1,"b":[true,null]}'),
    ('[1, -2, 0, 18446744073709551615, -9223372036854775808]', "[1,-2,0,18446744073709551615,-9223372036854775808]"),
    ('[1.5, 1.50, 0.1, 0.001, -0.0, 2.5E+1, 123456.789]', "[1.5,1.5,0.1,0.001,-0.0,25.0,123456.789]"),
    ('[1e3, 1E2, 100.0]', "[1000.0,100.0,100.0]"),
    # serde_json: [0.0001,1e-7,5e-324]
    ('[1e-4, 1e-7, 5e-324]', "[1.0E-4,1.0E-7,4.9E-324]"),
    # serde_json: [12345678.9,10000000.0,1000000000000000.0,1e+16,1.7976931348623157e+308]
    ('[12345678.9, 1e7, 1e15, 1e16, 1.7976931348623157e308]', "[1.23456789E7,1.0E7,1.0E15,1.0E16,1.7976931348623157E308]"),
    # serde_json: [-0.0] (it reads -0 as a float)
    ("[-0]", "[0]"),
    # serde_json: [1.2345678901234568e+29,-1e+20] (integers beyond u64/i64 are doubles there)
    ("[123456789012345678901234567890, -100000000000000000000]", "[123456789012345678901234567890,-100000000000000000000]"),
    ('{"s": "\\u00e9\\/\\"\\\\\\b\\f\\n\\r\\t", "t": "\u00e9 \u4e2d \u007f \u2028"}', '{"s":"é/\\"\\\\\\b\\f\\n\\r\\t","t":"é 中 \u007f \u2028"}'),
    # serde_json: lowercase hex, \u001f
    ('["\\u001f\\u0000"]', '["\\u001F\\u0000"]'),
    # serde_json: the character itself, ["😀","😀"]
    ('["\U0001F600", "\\ud83d\\ude00"]', '["\\uD83D\\uDE00","\\uD83D\\uDE00"]'),
    # serde_json: {"a":2,"b":1} (a key given twice keeps its first place and its last value)
    ('{"a": 1, "b": 1, "a": 2}', '{"a":1,"b":1,"a":2}'),
]


def test_jsonl_json_text_as_jackson_writes_it(spark, lake, tmp_path):
    """What Spark's reader writes for each kind of value, pinned: numbers come from the double
    (or integer) the parser made of them, by Java's Double.toString (positional from 1e-3 to
    1e7, else d.dddE±n), strings with Jackson's escapes. The comments say what serde_json
    writes instead."""
    reg = registry(tmp_path, "jsonl")
    table = list(JACKSON_TEXT)
    java = int(str(spark._jvm.java.lang.System.getProperty("java.specification.version")).split(".")[-1])
    # Before Java 19, Double.toString is not always the shortest text (JDK-4511638).
    table.append(("[1e23, 2.82879384806159E17]", "[9.999999999999999E22,2.82879384806159008E17]" if java < 19 else "[1.0E23,2.82879384806159E17]"))
    data = "".join('{"id": %d, "doc": %s, "tags": []}\n' % (i, v) for i, (v, _) in enumerate(table))
    out, _ = curated(spark, lake, "raw/j/text.jsonl", reg, data)
    got = [r["doc"] for r in out]
    assert got == [want for _, want in table], [(v, g, w) for (v, w), g in zip(table, got) if g != w]


# --- Parquet inputs -----------------------------------------------------------------------------


def write_parquet(lake, name, **columns):
    base = {
        "id": pa.array([1, 2], pa.int64()),
        "doc": pa.array(['{"a": 1}', None], pa.json_(pa.string())),  # JSON logical type
        "tags": pa.array(["[1, 2]", "[]"], pa.string()),  # UTF8
        "note": pa.array(["x", None], pa.string()),
    }
    base.update(columns)
    p = Path(lake) / "raw/j" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(base), p)
    return f"raw/j/{name}"


def test_parquet_string_columns_into_json_columns(spark, lake, tmp_path):
    reg = registry(tmp_path, "parquet")
    key = write_parquet(lake, "ok.parquet")
    assert json.loads(pq.ParquetFile(Path(lake) / key).schema.column(1).logical_type.to_json())["Type"] == "JSON"
    summary = run_curate(spark, lake, key, reg)
    pf = pq.ParquetFile(summary["outputs"][0])
    assert pf.read().to_pylist() == [
        {"id": 1, "doc": '{"a": 1}', "tags": "[1, 2]", "note": "x"},
        {"id": 2, "doc": None, "tags": "[]", "note": None},
    ]
    check_json_schema(pf)
    for name, column, array, found in [
        ("binary.parquet", "doc", pa.array([b"{}", None], pa.binary()), "binary"),
        ("int.parquet", "tags", pa.array([1, 2], pa.int64()), "bigint"),
        ("list.parquet", "tags", pa.array([[1], []], pa.list_(pa.int64())), "array<bigint>"),
    ]:
        with pytest.raises(curate.JobError) as e:
            run_curate(spark, lake, write_parquet(lake, name, **{column: array}), reg)
        msg = str(e.value)
        assert f"column {column} is {found} in the file, which does not convert to json" in msg, msg
