"""Tables written by `lakeline table append` are read by engines lakeline did not write:
pyiceberg 0.12 (`StaticTable.from_metadata`, and its own `SqlCatalog` on the warehouse's
catalog) and DuckDB 1.4.4's iceberg extension (`iceberg_scan`). Both must agree with the source
files row for row, value for value: every sample dataset (CSV, TSV without a header, JSON Lines,
Parquet), a corrected re-upload that replaced one key's rows, and time travel to the snapshot
before it.

Run by `scripts/table-readers test` (part of `make test`) with $LAKELINE_BIN, the debug build.
"""

import csv
import datetime as dt
import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("LAKELINE_BIN", str(REPO / "target" / "debug" / "lakeline"))
CONFIG = str(REPO / "config" / "datasets.yaml")
DAY = "dt=2026-11-25"

# dataset, sample file, raw key, how to read the file: (delimiter, header) or "jsonl"/"parquet".
DELIVERIES = [
    ("orders", "samples/orders/good.csv", f"raw/orders/{DAY}/good.csv", (",", True)),
    ("returns", "samples/returns/good.tsv", f"raw/returns/{DAY}/good.tsv", ("\t", False)),
    ("clicks", "samples/clicks/good.jsonl", f"raw/clicks/{DAY}/good.jsonl", "jsonl"),
    ("inventory", "samples/inventory/good.parquet", f"raw/inventory/{DAY}/good.parquet", "parquet"),
]
# The corrected re-upload: the same key, fewer rows, other amounts.
CORRECTED_KEY = f"raw/orders/{DAY}/export.csv"
NULLS = {"returns": {"", "NULL", "\\N"}}
TRUE = {"true", "t", "yes", "y", "1"}
FALSE = {"false", "f", "no", "n", "0"}


def lakeline(*args, ok=(0,)):
    p = subprocess.run([BIN, *args, "--config", CONFIG], capture_output=True, text=True)
    assert p.returncode in ok, f"lakeline {' '.join(args)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def typed(value, ty):
    """Text of a source file as the value a reader of the table returns."""
    if value is None:
        return None
    if ty == "long":
        return int(value)
    if ty == "double":
        return float(value)
    if ty.startswith("decimal"):
        # Exact: pyiceberg and DuckDB both return decimal.Decimal, and 15.5 == 15.50.
        return Decimal(value)
    if ty == "boolean":
        v = value.lower()
        assert v in TRUE | FALSE, value
        return v in TRUE
    if ty == "date":
        return dt.date.fromisoformat(value)
    if ty == "timestamptz":
        t = dt.datetime.fromisoformat(value.replace(" ", "T"))
        return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)
    return value


def expected(dataset, path, how, columns):
    """The source file's rows as {column: value}, typed by the table's columns."""
    names = [c["name"] for c in columns if not c["name"].startswith("_lakeline_")]
    types = {c["name"]: c["type"] for c in columns}
    if how == "parquet":
        rows = pq.read_table(path).to_pylist()
        return [{n: r.get(n) for n in names} for r in rows]
    if how == "jsonl":
        rows = [json.loads(l) for l in Path(path).read_text().splitlines() if l.strip()]
        return [
            {n: (typed(r.get(n), types[n]) if types[n] in ("date", "timestamptz") else r.get(n)) for n in names}
            for r in rows
        ]
    delimiter, header = how
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter=delimiter))
    if header:
        head, rows = rows[0], rows[1:]
    else:
        head = names
    nulls = NULLS.get(dataset, {""})
    out = []
    for r in rows:
        rec = dict(zip(head, r))
        out.append({n: typed(None if rec.get(n) in nulls else rec.get(n), types[n]) for n in names})
    return out


def utc(v):
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.timezone.utc)
    return v


def canon(rows, names):
    """Rows as sorted tuples of the given columns, timestamps in UTC."""
    return sorted(tuple(utc(r[n]) for n in names) for r in rows)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    wh = tmp_path_factory.mktemp("warehouse")
    src = tmp_path_factory.mktemp("sources")
    for dataset, rel, key, _ in DELIVERIES:
        lakeline("table", "append", str(REPO / rel), "--dataset", dataset, "--key", key, "--warehouse", str(wh))
    # An export, then its corrected re-upload under the same key.
    first = (REPO / "samples/orders/good.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    v1 = src / "export-v1.csv"
    v1.write_text("".join(first), encoding="utf-8")
    v2 = src / "export-v2.csv"
    v2.write_text("".join(first[:6]).replace(",49.90,", ",59.90,"), encoding="utf-8")
    lakeline("table", "append", str(v1), "--dataset", "orders", "--key", CORRECTED_KEY, "--warehouse", str(wh))
    before = show("orders", wh)
    out = lakeline("table", "append", str(v2), "--dataset", "orders", "--key", CORRECTED_KEY, "--warehouse", str(wh))
    replaced = json.loads(out.stdout)
    assert replaced["outcome"] == "committed" and replaced["operation"] == "overwrite", replaced
    assert replaced["removed_rows"] == len(first) - 1 and replaced["added_rows"] == 5, replaced
    return {"wh": wh, "v1": v1, "v2": v2, "before": before}


def show(dataset, wh):
    return json.loads(lakeline("table", "show", "--dataset", dataset, "--warehouse", str(wh), "--json").stdout)


def sources_of(dataset, lake):
    """(source file, raw key, how) of every delivery now in the dataset's table."""
    out = [(REPO / rel, key, how) for d, rel, key, how in DELIVERIES if d == dataset]
    if dataset == "orders":
        out.append((lake["v2"], CORRECTED_KEY, (",", True)))
    return out


def want_rows(dataset, lake, columns):
    rows = []
    for path, key, how in sources_of(dataset, lake):
        for r in expected(dataset, path, how, columns):
            rows.append({**r, "_lakeline_source": key})
    return rows


def duckdb_connection():
    import duckdb
    import duckdb_ext  # the duckdb-ext-* wheels: the extensions, since nothing downloads here

    base = Path(list(duckdb_ext.__path__)[0])
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    for name in ("avro", "iceberg"):
        (path,) = base.glob(f"**/{name}.duckdb_extension")
        con.execute(f"LOAD '{path}'")
    return con


@pytest.mark.parametrize("dataset", [d for d, *_ in DELIVERIES])
def test_pyiceberg_reads_the_source_rows(dataset, lake):
    from pyiceberg.table import StaticTable

    view = show(dataset, lake["wh"])
    table = StaticTable.from_metadata(view["metadata_location"])
    got = table.scan().to_arrow().to_pylist()
    want = want_rows(dataset, lake, view["columns"])
    names = [c["name"] for c in view["columns"] if c["name"] != "_lakeline_version" and c["name"] != "_lakeline_date"]
    assert len(got) == view["rows"] == len(want)
    assert canon(got, names) == canon(want, names)
    # Every row carries its partition date, from the key.
    assert {r["_lakeline_date"] for r in got} == {dt.date(2026, 11, 25)}


@pytest.mark.parametrize("dataset", [d for d, *_ in DELIVERIES])
def test_duckdb_reads_the_source_rows(dataset, lake):
    view = show(dataset, lake["wh"])
    con = duckdb_connection()
    cur = con.execute(f"SELECT * FROM iceberg_scan('{view['metadata_location']}')")
    cols = [d[0] for d in cur.description]
    got = [dict(zip(cols, r)) for r in cur.fetchall()]
    want = want_rows(dataset, lake, view["columns"])
    names = [c["name"] for c in view["columns"] if c["name"] not in ("_lakeline_version", "_lakeline_date")]
    assert len(got) == len(want)
    assert canon(got, names) == canon(want, names)


def test_the_corrected_upload_replaced_its_rows_and_time_travel_sees_the_old_ones(lake):
    from pyiceberg.table import StaticTable

    view = show("orders", lake["wh"])
    table = StaticTable.from_metadata(view["metadata_location"])
    now = [r for r in table.scan().to_arrow().to_pylist() if r["_lakeline_source"] == CORRECTED_KEY]
    assert canon(now, ["order_id", "amount"]) == canon(expected("orders", lake["v2"], (",", True), view["columns"]), ["order_id", "amount"])
    assert Decimal("59.90") in [r["amount"] for r in now] and Decimal("49.90") not in [r["amount"] for r in now]
    old = lake["before"]["snapshot_id"]
    then = [r for r in table.scan(snapshot_id=old).to_arrow().to_pylist() if r["_lakeline_source"] == CORRECTED_KEY]
    assert canon(then, ["order_id", "amount"]) == canon(expected("orders", lake["v1"], (",", True), view["columns"]), ["order_id", "amount"])
    # The snapshots say what each one did, and for which key.
    # (The metadata lists snapshots in no particular order: their sequence numbers order them.)
    snaps = sorted(table.snapshots(), key=lambda s: s.sequence_number)
    ops = [(s.summary.operation.value, json.loads(s.summary["lakeline.sources"])) for s in snaps]
    assert ops[-2:] == [("append", [CORRECTED_KEY]), ("overwrite", [CORRECTED_KEY])]


def test_pyiceberg_catalog_sees_the_same_table(lake):
    from pyiceberg.catalog.sql import SqlCatalog

    wh = lake["wh"]
    cat = SqlCatalog("lakeline", uri=f"sqlite:///{wh}/catalog.db", warehouse=f"file://{wh}")
    for dataset, *_ in DELIVERIES:
        t = cat.load_table(f"lakeline.{dataset}")
        assert t.metadata_location == show(dataset, wh)["metadata_location"]


# Foreign appends racing the lakeline commits below: fewer than lakeline's 20 commit attempts.
FOREIGN_APPENDS = 12


def test_a_foreign_writer_racing_lakeline_loses_nothing(tmp_path):
    """pyiceberg appends to the table (its own compare-and-swap, no lakeline lock) while six
    `lakeline table append` run: every commit of both is in the end, none twice. lakeline's
    commits that lose the pointer to pyiceberg decide again on the new version."""
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.exceptions import CommitFailedException

    wh = tmp_path / "wh"
    lakeline("table", "sync", "--dataset", "returns", "--warehouse", str(wh))
    cat = SqlCatalog("lakeline", uri=f"sqlite:///{wh}/catalog.db", warehouse=f"file://{wh}")
    src = REPO / "samples/returns/good.tsv"
    keys = [f"raw/returns/{DAY}/race-{i}.tsv" for i in range(6)]
    procs = [
        subprocess.Popen([BIN, "table", "append", str(src), "--dataset", "returns", "--key", k,
                          "--warehouse", str(wh), "--config", CONFIG], stdout=subprocess.PIPE, text=True)
        for k in keys
    ]
    foreign = []
    # A bounded number of foreign appends, started with the lakeline commits: each lakeline
    # commit can lose to each of them at most once, so fewer than its 20 attempts are ever
    # needed (an adversary that appended for as long as lakeline ran could starve it, and did).
    for i in range(FOREIGN_APPENDS):
        t = cat.load_table("lakeline.returns")
        batch = pa.Table.from_pylist(
            [{"return_id": 9000 + i, "order_id": 1, "reason": "pyiceberg", "refunded": True,
              "_lakeline_source": f"foreign/{i}", "_lakeline_version": "v", "_lakeline_date": dt.date(2026, 11, 25)}],
            schema=t.schema().as_arrow(),
        )
        while True:
            try:
                t.append(batch)
                break
            except CommitFailedException:
                t = cat.load_table("lakeline.returns")
        foreign.append(f"foreign/{i}")
    outs = [json.loads(p.communicate()[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert all(o["outcome"] == "committed" for o in outs), outs
    rows = cat.load_table("lakeline.returns").scan().to_arrow().to_pylist()
    by_source = {}
    for r in rows:
        by_source.setdefault(r["_lakeline_source"], []).append(r["return_id"])
    want = sorted(typed(r[0], "long") for r in csv.reader(open(src, newline=""), delimiter="\t"))
    for k in keys:
        assert sorted(by_source[k]) == want, k
    for i, f in enumerate(foreign):
        assert by_source[f] == [9000 + i], f
    assert len(by_source) == len(keys) + len(foreign)
    print(f"{len(foreign)} pyiceberg appends; lakeline commits that lost the race to them and decided again: "
          f"{sum(o['attempts'] - 1 for o in outs)}")


def six_parts(wh, src):
    """Six small deliveries of one orders partition (the sample's first 2 to 7 rows): the
    sample's lines, and each raw key's source file."""
    lines = (REPO / "samples/orders/good.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    parts = {}
    for i in range(6):
        p = src / f"part-{i}.csv"
        p.write_text("".join(lines[: 3 + i]), encoding="utf-8")
        key = f"raw/orders/{DAY}/part-{i}.csv"
        lakeline("table", "append", str(p), "--dataset", "orders", "--key", key, "--warehouse", str(wh))
        parts[key] = p
    return lines, parts


@pytest.fixture(scope="module")
def maintained(tmp_path_factory):
    """Six small deliveries of one partition, compacted into one file by `lakeline table
    compact`, then one key undone and another corrected (both inside the compacted file), then
    one customer's rows erased."""
    wh = tmp_path_factory.mktemp("maintained")
    src = tmp_path_factory.mktemp("parts")
    lines, parts = six_parts(wh, src)
    out = json.loads(lakeline("table", "compact", "--dataset", "orders", "--include-open",
                              "--warehouse", str(wh), "--json").stdout)
    assert out["committed"] and (out["files_in"], out["files_out"]) == (6, 1), out
    undone = f"raw/orders/{DAY}/part-2.csv"
    out = json.loads(lakeline("table", "undo", "--dataset", "orders", "--key", undone, "--warehouse", str(wh)).stdout)
    assert out["committed"] and out["rewritten_files"], out
    del parts[undone]
    fixed = f"raw/orders/{DAY}/part-4.csv"
    p = src / "part-4-fixed.csv"
    p.write_text("".join(lines[:3]).replace(",49.90,", ",59.90,"), encoding="utf-8")
    out = json.loads(lakeline("table", "append", str(p), "--dataset", "orders", "--key", fixed,
                              "--warehouse", str(wh)).stdout)
    assert out["operation"] == "overwrite", out
    parts[fixed] = p
    out = json.loads(lakeline("table", "erase", "--dataset", "orders", "--where", "customer = 'Léa Dubois'",
                              "--warehouse", str(wh)).stdout)
    assert out["committed"] and out["rows"] == 3, out
    return {"wh": wh, "parts": parts, "erased": "Léa Dubois"}


def test_readers_agree_after_compaction_undo_a_correction_and_an_erase(maintained):
    """pyiceberg and DuckDB read the table after the replace, the two rewrites of the
    compacted file and the erase: every remaining row, value for value; the undone key's and
    the erased customer's gone."""
    from pyiceberg.table import StaticTable

    view = show("orders", maintained["wh"])
    want = []
    for key, path in maintained["parts"].items():
        want += [{**r, "_lakeline_source": key} for r in expected("orders", path, (",", True), view["columns"])
                 if r["customer"] != maintained["erased"]]
    names = [c["name"] for c in view["columns"] if c["name"] not in ("_lakeline_version", "_lakeline_date")]
    got = StaticTable.from_metadata(view["metadata_location"]).scan().to_arrow().to_pylist()
    assert canon(got, names) == canon(want, names)
    cur = duckdb_connection().execute(f"SELECT * FROM iceberg_scan('{view['metadata_location']}')")
    cols = [d[0] for d in cur.description]
    assert canon([dict(zip(cols, r)) for r in cur.fetchall()], names) == canon(want, names)
    history = json.loads(lakeline("table", "history", "--dataset", "orders", "--warehouse",
                                  str(maintained["wh"]), "--json").stdout)
    assert [(h["operation"], h["rewrite"]) for h in history] == [("append", None)] * 6 + [
        ("replace", "compact"), ("overwrite", "undo"), ("overwrite", None), ("overwrite", "erase")]
    # The erase names the column it filtered on, never the value.
    assert history[-1]["erased_columns"] == ["customer"]
    assert maintained["erased"] not in json.dumps(history)


def test_readers_agree_after_a_rollback_and_an_expiry(tmp_path):
    """Two deliveries and a correction; a rollback to before the correction, then an expiry of
    every other snapshot (`lakeline table rollback`, `expire`): pyiceberg and DuckDB read the
    two original deliveries, value for value."""
    from pyiceberg.table import StaticTable

    wh = tmp_path / "wh"
    good = REPO / "samples/orders/good.csv"
    keys = [f"raw/orders/{DAY}/rb-{i}.csv" for i in range(2)]
    for k in keys:
        lakeline("table", "append", str(good), "--dataset", "orders", "--key", k, "--warehouse", str(wh))
    before = show("orders", wh)
    short = tmp_path / "short.csv"
    short.write_text("".join(good.read_text(encoding="utf-8").splitlines(keepends=True)[:3]), encoding="utf-8")
    lakeline("table", "append", str(short), "--dataset", "orders", "--key", keys[0], "--warehouse", str(wh))
    out = json.loads(lakeline("table", "rollback", "--dataset", "orders", "--to", str(before["snapshot_id"]),
                              "--warehouse", str(wh)).stdout)
    assert out["committed"] and [d["sources"] for d in out["dropped"]] == [[keys[0]]], out
    out = json.loads(lakeline("table", "expire", "--dataset", "orders", "--older-than-days", "0",
                              "--warehouse", str(wh)).stdout)
    assert out["committed"] and len(out["snapshots"]) == 2, out
    view = show("orders", wh)
    assert len(view["snapshots"]) == 1
    names = [c["name"] for c in view["columns"] if c["name"] not in ("_lakeline_version", "_lakeline_date")]
    want = [{**r, "_lakeline_source": k} for k in keys for r in expected("orders", good, (",", True), view["columns"])]
    got = StaticTable.from_metadata(view["metadata_location"]).scan().to_arrow().to_pylist()
    assert canon(got, names) == canon(want, names)
    cur = duckdb_connection().execute(f"SELECT * FROM iceberg_scan('{view['metadata_location']}')")
    cols = [d[0] for d in cur.description]
    assert canon([dict(zip(cols, r)) for r in cur.fetchall()], names) == canon(want, names)


def test_readers_agree_after_a_rewrite_another_engine_wrote(tmp_path):
    """The Spark engine's commit path with a file lakeline did not write: six deliveries of one
    partition planned for a rewrite (`lakeline table rewrite-plan`), merged by pyarrow as
    jobs/compact.py would (the same columns and field ids, one file), and committed by `lakeline
    table rewrite-commit` as one `replace` snapshot. pyiceberg and DuckDB read every source row,
    value for value, from the one file."""
    from pyiceberg.table import StaticTable
    import pyarrow as pa

    wh = tmp_path / "wh"
    _, parts = six_parts(wh, tmp_path)
    plan = json.loads(lakeline("table", "rewrite-plan", "--dataset", "orders", "--warehouse", str(wh),
                               "--out", str(tmp_path / "rw"), "--include-open").stdout)
    assert plan["status"] == "PLANNED" and len(plan["inputs"]) == 6, plan
    merged = pa.concat_tables([pq.read_table(f["path"].removeprefix("file://")) for f in plan["inputs"]])
    assert merged.schema.field("order_id").metadata[b"PARQUET:field_id"], "the ids travel with the columns"
    Path(plan["output"]).mkdir(parents=True)
    pq.write_table(merged, str(Path(plan["output"]) / "part-00000.parquet"), compression="zstd")
    out = json.loads(lakeline("table", "rewrite-commit", plan["plan"], "--dataset", "orders",
                              "--warehouse", str(wh), "--engine", "pyarrow").stdout)
    assert out["status"] == "COMPACTED", out

    view = show("orders", wh)
    assert view["data_files"] == 1 and view["snapshots"][-1]["operation"] == "replace", view
    want = []
    for key, path in parts.items():
        want += [{**r, "_lakeline_source": key} for r in expected("orders", path, (",", True), view["columns"])]
    names = [c["name"] for c in view["columns"] if c["name"] not in ("_lakeline_version", "_lakeline_date")]
    got = StaticTable.from_metadata(view["metadata_location"]).scan().to_arrow().to_pylist()
    assert canon(got, names) == canon(want, names)
    cur = duckdb_connection().execute(f"SELECT * FROM iceberg_scan('{view['metadata_location']}')")
    cols = [d[0] for d in cur.description]
    assert canon([dict(zip(cols, r)) for r in cur.fetchall()], names) == canon(want, names)
