"""A table taken through every schema change the registry allows (add, drop, rename with
`renamed_from`, decimal widening, reorder), with files committed under each registry version,
one of them validated under the previous version after the table had moved on. pyiceberg and
DuckDB's iceberg extension read every snapshot, and every value is where its field id says.

Run by `scripts/table-readers test` (part of `make test`) with $LAKELINE_BIN, the debug build.
"""

import json
import subprocess
from decimal import Decimal

import pytest

from test_readers import BIN, duckdb_connection

DAY = "dt=2026-11-25"

V1 = """version: 1
datasets:
  ev:
    key_pattern: raw/ev/dt={date}/{file}
    format: csv
    header: by_name
    compaction: {min_small_files: 2}
    columns:
      - {name: id, type: int, required: true}
      - {name: amt, type: "decimal(10,2)"}
      - {name: old, type: string}
      - {name: note, type: string}
"""

# `old` dropped, `amt` renamed to `amount` and widened, `note` moved first, `extra` added.
V2 = """version: 1
datasets:
  ev:
    key_pattern: raw/ev/dt={date}/{file}
    format: csv
    header: by_name
    compaction: {min_small_files: 2}
    columns:
      - {name: note, type: string}
      - {name: id, type: int, required: true}
      - {name: amount, type: "decimal(12,2)", renamed_from: amt}
      - {name: extra, type: string, default: "-"}
"""

# What no table change can do in place: a decimal's scale.
V3 = V2.replace('"decimal(12,2)", renamed_from: amt', '"decimal(12,3)"')

FILES = {
    # Under V1, before the change.
    "a.csv": (V1, "id,amt,old,note\n1,10.50,x,n1\n2,20.25,y,n2\n"),
    # Validated under V1 too, committed after the table moved to V2: mapped by field id.
    "b.csv": (V1, "note,old,amt,id\nn3,z,30.00,3\n"),
    # Under V2: a value only the widened column holds.
    # ...and its default, which fills only the files curated from then on.
    "c.csv": (V2, "extra,amount,id,note\ne4,1234567890.12,4,n4\n,5.00,5,n5\n"),
}


def run(*args, ok=(0,)):
    p = subprocess.run([BIN, *args], capture_output=True, text=True)
    assert p.returncode in ok, f"lakeline {' '.join(args)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    d = tmp_path_factory.mktemp("evolution")
    wh = d / "wh"
    regs = {}
    for name, text in (("v1", V1), ("v2", V2), ("v3", V3)):
        regs[name] = d / f"{name}.yaml"
        regs[name].write_text(text)

    def append(file):
        reg, body = FILES[file]
        path = d / file
        path.write_text(body)
        cfg = regs["v1"] if reg is V1 else regs["v2"]
        out = run("table", "append", str(path), "--dataset", "ev", "--key", f"raw/ev/{DAY}/{file}",
                  "--config", str(cfg), "--warehouse", str(wh))
        return json.loads(out.stdout)

    def show():
        return json.loads(run("table", "show", "--dataset", "ev", "--warehouse", str(wh), "--json",
                              "--config", str(regs["v2"])).stdout)

    first = append("a.csv")
    plan = run("registry", "check", str(regs["v2"]), "--warehouse", str(wh)).stdout
    synced = json.loads(run("table", "sync", "--config", str(regs["v2"]), "--warehouse", str(wh)).stdout)
    refused = run("registry", "check", str(regs["v3"]), "--warehouse", str(wh), ok=(2,))
    append("b.csv")
    append("c.csv")
    return {"wh": wh, "regs": regs, "first": first, "plan": plan, "synced": synced, "refused": refused,
            "show": show, "d": d}


CURRENT = [
    {"note": "n1", "id": 1, "amount": Decimal("10.50"), "extra": None},
    {"note": "n2", "id": 2, "amount": Decimal("20.25"), "extra": None},
    {"note": "n3", "id": 3, "amount": Decimal("30.00"), "extra": None},
    {"note": "n4", "id": 4, "amount": Decimal("1234567890.12"), "extra": "e4"},
    {"note": "n5", "id": 5, "amount": Decimal("5.00"), "extra": "-"},
]
FIRST = [
    {"id": 1, "amt": Decimal("10.50"), "old": "x", "note": "n1"},
    {"id": 2, "amt": Decimal("20.25"), "old": "y", "note": "n2"},
]


def declared(rows, names):
    return sorted(({n: r[n] for n in names} for r in rows), key=lambda r: r["id"])


def test_check_and_sync_name_each_change_and_refuse_a_scale_change(table):
    plan = table["plan"]
    for words in ('add column "extra"', 'drop column "old"', 'rename "amt" to "amount"',
                  'widen "amount" from decimal(10, 2) to decimal(12, 2)', "reorder the columns"):
        assert words in plan, plan
    (change,) = table["synced"]
    assert change["sync"]["change"] == "evolved", change
    assert len(change["sync"]["changes"]) == 5, change
    out = table["refused"].stdout
    assert 'REFUSED: column "amount" is decimal(12, 2) in the table and decimal(12, 3) in the registry' in out, out
    assert "A backfill would take" in out, out


def test_pyiceberg_reads_every_snapshot_by_field_id(table):
    from pyiceberg.table import StaticTable

    view = table["show"]()
    t = StaticTable.from_metadata(view["metadata_location"])
    assert [f.name for f in t.schema().fields][:4] == ["note", "id", "amount", "extra"]
    got = t.scan().to_arrow().to_pylist()
    assert declared(got, ["note", "id", "amount", "extra"]) == CURRENT
    assert all("old" not in r and "amt" not in r for r in got)
    # The first snapshot is read with its own schema: `amt` and `old` as they were.
    then = t.scan(snapshot_id=table["first"]["snapshot_id"]).to_arrow().to_pylist()
    assert declared(then, ["id", "amt", "old", "note"]) == FIRST
    # Each snapshot in between holds exactly the rows committed by then.
    snaps = sorted(t.snapshots(), key=lambda s: s.sequence_number)
    counts = [len(t.scan(snapshot_id=s.snapshot_id).to_arrow()) for s in snaps]
    assert counts == [2, 3, 5], counts


def test_duckdb_reads_the_evolved_table_by_field_id(table):
    view = table["show"]()
    con = duckdb_connection()
    cur = con.execute(f"SELECT note, id, amount, extra FROM iceberg_scan('{view['metadata_location']}')")
    got = [dict(zip(["note", "id", "amount", "extra"], r)) for r in cur.fetchall()]
    assert declared(got, ["note", "id", "amount", "extra"]) == CURRENT
    first = table["first"]["snapshot_id"]
    cur = con.execute(f"SELECT * FROM iceberg_scan('{view['metadata_location']}', snapshot_from_id => {first})")
    cols = [c[0] for c in cur.description]
    then = [dict(zip(cols, r)) for r in cur.fetchall()]
    assert declared(then, ["id", "amt", "old", "note"]) == FIRST


def test_files_of_both_schemas_compact_into_one(table):
    wh, v2 = table["wh"], table["regs"]["v2"]
    out = json.loads(run("table", "compact", "--dataset", "ev", "--include-open", "--json", "--config", str(v2),
                         "--warehouse", str(wh)).stdout)
    assert out["committed"] is True and (out["files_in"], out["files_out"], out["rows"]) == (3, 1, 5), out
    from pyiceberg.table import StaticTable

    view = table["show"]()
    assert view["data_files"] == 1, view
    t = StaticTable.from_metadata(view["metadata_location"])
    assert declared(t.scan().to_arrow().to_pylist(), ["note", "id", "amount", "extra"]) == CURRENT
