"""CSV/TSV `header: by_name` in curate.py: the header's names place the declared columns (in any
order, names trimmed, a BOM dropped, compared exactly); a missing optional column is null, a
missing required one, a name given twice, or an undeclared one under `extra_columns: reject`
fail the file; under `extra_columns: allow` undeclared columns are skipped; records have as
many fields as the header; the output is always the registry's columns in the registry's
order."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import curate
from conftest import put, registry_file

BY_NAME = """
b:
  key_pattern: raw/b/{file}
  format: {format}
  header: by_name
  extra_columns: {extra}
  null_values: ["", "NA"]
  columns:
    - {name: id, type: int, required: true}
    - {name: name, type: string, required: true}
    - {name: amount, type: "decimal(12,2)"}
    - {name: note, type: string}
"""
DECLARED = ["id", "name", "amount", "note"]


def registry(tmp_path, extra="reject", fmt="csv"):
    return registry_file(tmp_path, BY_NAME.replace("{extra}", extra).replace("{format}", fmt))


def run_curate(spark, lake, key, reg, *extra):
    args = curate.parse_args(["--source", str(Path(lake) / key), "--lake-root", str(lake), "--registry", reg, *extra])
    return curate.run(spark, args)


def curated(spark, lake, key, reg, data, *extra):
    """The rows curated from `data`, as dicts, after checking the output has the declared
    columns in declared order."""
    put(lake, key, data)
    summary = run_curate(spark, lake, key, reg, *extra)
    tables = [pq.read_table(p) for p in summary["outputs"]]
    assert all(t.schema.names == DECLARED for t in tables)
    return pa.concat_tables(tables).to_pylist()


def failure(spark, lake, key, reg, data):
    put(lake, key, data)
    with pytest.raises(curate.JobError) as e:
        run_curate(spark, lake, key, reg)
    return str(e.value)


def test_columns_in_another_order_come_out_in_the_declared_order(spark, lake, tmp_path):
    from decimal import Decimal

    reg = registry(tmp_path)
    data = (
        b"\xef\xbb\xbf note ,amount,\tid,name\r\n"  # BOM, and whitespace around names, dropped
        b'"a, b",12.34,1,Anna\r\n'
        b"NA,,2,Bo\r\n"
        b"\r\n"
        b'c,-0.5,3,"C ""the"" third"\n'
    )
    out = curated(spark, lake, "raw/b/reordered.csv", reg, data)
    assert out == [
        {"id": 1, "name": "Anna", "amount": Decimal("12.34"), "note": "a, b"},
        {"id": 2, "name": "Bo", "amount": None, "note": None},
        {"id": 3, "name": 'C "the" third', "amount": Decimal("-0.50"), "note": "c"},
    ]
    # Both ways rows reach the JVM, and several tasks, give the same rows.
    again = curated(spark, lake, "raw/b/reordered.csv", reg, data, "--csv-transfer", "rows")
    assert again == out
    spread = curated(spark, lake, "raw/b/reordered.csv", reg, data, "--parallelism", "2")
    assert sorted(spread, key=lambda r: r["id"]) == out


def test_the_declared_order_itself_and_tsv(spark, lake, tmp_path):
    reg = registry(tmp_path, fmt="tsv")
    out = curated(spark, lake, "raw/b/same.tsv", reg, "id\tname\tamount\tnote\n1\tx\t1.5\tn\n")
    assert [(r["id"], r["name"], str(r["amount"]), r["note"]) for r in out] == [(1, "x", "1.50", "n")]


def test_a_missing_optional_column_is_null(spark, lake, tmp_path):
    reg = registry(tmp_path)
    out = curated(spark, lake, "raw/b/no-note.csv", reg, "name,id\nx,1\ny,2\n")
    assert out == [{"id": 1, "name": "x", "amount": None, "note": None}, {"id": 2, "name": "y", "amount": None, "note": None}]


def test_a_missing_required_column_fails_the_file(spark, lake, tmp_path):
    reg = registry(tmp_path, extra="allow")
    msg = failure(spark, lake, "raw/b/no-id.csv", reg, "name,amount,note\nx,1,n\n")
    assert "no-id.csv" in msg and "header" in msg and "lacks the required column id" in msg, msg
    # Names are compared exactly: `ID` is not `id`.
    msg = failure(spark, lake, "raw/b/upper.csv", reg, "ID,name\n1,x\n")
    assert "lacks the required column id" in msg, msg


def test_undeclared_columns_are_skipped_when_allowed(spark, lake, tmp_path):
    reg = registry(tmp_path, extra="allow")
    data = "extra1,id,note,name,extra2\nignored,1,n1,x,also ignored\n,2,,y,\n"
    out = curated(spark, lake, "raw/b/extra.csv", reg, data)
    assert out == [{"id": 1, "name": "x", "amount": None, "note": "n1"}, {"id": 2, "name": "y", "amount": None, "note": None}]
    # Records have as many fields as the header (5 here), not as the declared columns (4).
    msg = failure(spark, lake, "raw/b/short.csv", reg, "extra1,id,note,name,extra2\na,1,n,x,b\na,2,n,x\n")
    assert "has 4 fields, expected 5" in msg and "line 3" in msg, msg


def test_undeclared_columns_fail_the_file_when_rejected(spark, lake, tmp_path):
    reg = registry(tmp_path)  # extra_columns: reject, the default
    msg = failure(spark, lake, "raw/b/extra.csv", reg, "id,name,surprise\n1,x,y\n")
    assert "extra.csv" in msg and 'undeclared column "surprise"' in msg, msg


def test_a_name_given_twice_fails_the_file(spark, lake, tmp_path):
    for extra, header in [("reject", "id,name,id"), ("allow", "id,name,x, x"), ("allow", "id,name,note,note ")]:
        reg = registry(tmp_path, extra=extra)
        msg = failure(spark, lake, "raw/b/twice.csv", reg, header + "\n" + ",".join(str(i) for i in range(header.count(",") + 1)) + "\n")
        assert "twice.csv" in msg and "more than once" in msg, (header, msg)


def test_a_header_after_blank_lines_and_a_header_only_file(spark, lake, tmp_path):
    reg = registry(tmp_path)
    # csv-core drops the BOM from the first record even after blank lines.
    out = curated(spark, lake, "raw/b/late.csv", reg, b"\r\n\n\xef\xbb\xbfname,id\nx,1\n")
    assert [(r["id"], r["name"]) for r in out] == [(1, "x")]
    put(lake, "raw/b/only.csv", "note,id,name\n")
    summary = run_curate(spark, lake, "raw/b/only.csv", reg)
    assert summary["rows"] == 0 and pq.read_schema(summary["outputs"][0]).names == DECLARED
    msg = failure(spark, lake, "raw/b/empty.csv", reg, "\n")
    assert "empty.csv" in msg and "no header line" in msg, msg


def test_required_and_absent_headers_are_unchanged(spark, lake, tmp_path):
    """`required` takes records positionally (validation checked the names); `absent` reads
    the first record as data."""
    for header, data in [("required", "whatever,names,are,here\n1,x,2.5,n\n"), ("absent", "1,x,2.5,n\n")]:
        reg = registry_file(tmp_path, BY_NAME.replace("{extra}", "reject").replace("{format}", "csv").replace("by_name", header))
        out = curated(spark, lake, f"raw/b/{header}.csv", reg, data)
        assert [(r["id"], r["name"], str(r["amount"]), r["note"]) for r in out] == [(1, "x", "2.50", "n")], header
    bad = registry_file(tmp_path, BY_NAME.replace("{extra}", "reject").replace("{format}", "csv").replace("by_name", "by-name"))
    with pytest.raises(curate.JobError, match="header 'by-name' is not one of required, by_name, absent"):
        curate.dataset_from_registry(curate.load_registry(bad), "b")


def test_header_positions():
    declared = (("id", True), ("name", True), ("amount", False), ("note", False))
    assert curate.header_positions(["note", " name", "id\u3000"], declared, "reject", "s", 1) == [2, 1, None, 0]
    assert curate.header_positions(["x", "id", "name"], declared, "allow", "s", 1) == [1, 2, None, None]
    # Rust's trim is Unicode White_Space: U+001F is not whitespace there, so `id\x1f` is no `id`.
    with pytest.raises(curate.JobError, match="lacks the required column id"):
        curate.header_positions(["id\x1f", "name"], declared, "allow", "s", 1)
    with pytest.raises(curate.JobError, match=r'names "id" more than once'):
        curate.header_positions(["id", "name", " id"], declared, "allow", "s", 1)
    # Without a null value (`null_values: []`) a missing optional column cannot be null
    # either: the file fails, as lakeline_core's validation refuses it.
    with pytest.raises(curate.JobError, match="lacks the required columns amount, note"):
        curate.header_positions(["id", "name"], declared, "reject", "s", 1, has_null=False)
