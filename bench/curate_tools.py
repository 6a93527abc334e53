"""Helpers of the curate rows of `make bench` (run with the bench venv's python; print JSON).

  curate_tools.py check CSV PARQUET [SOURCE VERSION DATE]
                                             is PARQUET the CSV? rows, sums, min/max, per column,
                                             computed from both files independently (pyarrow
                                             reads the CSV; the Parquet is read as written).
                                             With SOURCE VERSION DATE, PARQUET is a table's data
                                             file: the CSV's columns, then the lineage columns
                                             holding these values in every row
  curate_tools.py columns PARQUET...         per column: compressed bytes, encodings; row groups
  curate_tools.py encodings PARQUET [--columns-only]
                                             re-encodes PARQUET's data with pyarrow under
                                             candidate writer settings (one thread): size and
                                             write time of each, per column and whole-file

The CSV is the 5-column orders file (bench/gen_data.py orders5).
"""

import datetime
import json
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

TYPES = {"order_id": pa.int64(), "customer": pa.string(), "amount": pa.float64(),
         "order_date": pa.date32(), "created_at": pa.timestamp("us", tz="UTC")}


class Acc:
    """Order-independent aggregates of a stream of batches (float sum compared with a tolerance)."""

    def __init__(self):
        self.rows = 0
        self.a = {"order_id_sum": 0, "amount_sum": 0.0, "amount_cents_sum": 0,
                  "customer_bytes": 0, "customer_with_comma": 0, "created_at_sum_s": 0, "created_at_sum_us_rem": 0,
                  "order_date_sum_days": 0, "nulls": 0}
        self.mm = {}

    def add(self, b):
        a = self.a
        self.rows += b.num_rows
        a["order_id_sum"] += pc.sum(b["order_id"]).as_py() or 0
        amt = b["amount"]
        a["amount_sum"] += pc.sum(amt).as_py() or 0.0
        a["amount_cents_sum"] += pc.sum(pc.round(pc.multiply(amt, 100)).cast(pa.int64())).as_py() or 0
        a["customer_bytes"] += pc.sum(pc.binary_length(b["customer"])).as_py() or 0
        a["customer_with_comma"] += pc.sum(pc.match_substring(b["customer"], ",").cast(pa.int64())).as_py() or 0
        us = b["created_at"].cast(pa.int64())  # a plain sum of epoch micros overflows int64
        secs = pc.divide(us, 1_000_000)
        a["created_at_sum_s"] += pc.sum(secs).as_py() or 0
        a["created_at_sum_us_rem"] += pc.sum(pc.subtract(us, pc.multiply(secs, 1_000_000))).as_py() or 0
        a["order_date_sum_days"] += pc.sum(b["order_date"].cast(pa.int32()).cast(pa.int64())).as_py() or 0
        a["nulls"] += sum(b[c].null_count for c in TYPES)
        for c in ("order_id", "order_date", "created_at"):
            mm = pc.min_max(b[c])
            lo, hi = mm["min"].as_py(), mm["max"].as_py()
            old = self.mm.get(c)
            self.mm[c] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))

    def result(self):
        return {"rows": self.rows, **self.a,
                **{f"{c}_min": str(v[0]) for c, v in self.mm.items()},
                **{f"{c}_max": str(v[1]) for c, v in self.mm.items()}}


LINEAGE = [("_lakeline_source", pa.string()), ("_lakeline_version", pa.string()),
           ("_lakeline_date", pa.date32())]


def check(csv_path, parquet_path, lineage=None):
    t0 = time.perf_counter()
    ref = Acc()
    reader = pcsv.open_csv(csv_path, convert_options=pcsv.ConvertOptions(column_types=TYPES),
                           read_options=pcsv.ReadOptions(block_size=16 << 20))
    for b in reader:
        ref.add(b)
    got = Acc()
    f = pq.ParquetFile(parquet_path)
    want_lineage = dict(zip((n for n, _ in LINEAGE), lineage or ()))
    if want_lineage:
        want_lineage["_lakeline_date"] = datetime.date.fromisoformat(want_lineage["_lakeline_date"])
    wrong_lineage = {}
    for b in f.iter_batches(batch_size=1 << 20):
        got.add(b)
        for name, value in want_lineage.items():
            col = b[name]
            if col.null_count or not pc.all(pc.equal(col, value)).as_py():
                wrong_lineage[name] = {"want": str(value), "got": sorted({str(v) for v in pc.unique(col).to_pylist()})[:3]}
    r, g = ref.result(), got.result()
    diffs = {}
    if wrong_lineage:
        diffs["lineage"] = wrong_lineage
    for k in r:
        if k == "amount_sum":
            ok = abs(r[k] - g[k]) <= 1e-9 * max(1.0, abs(r[k]))
        else:
            ok = r[k] == g[k]
        if not ok:
            diffs[k] = {"csv": r[k], "parquet": g[k]}
    want = pa.schema([pa.field(n, t) for n, t in TYPES.items()] +
                     [pa.field(n, t) for n, t in LINEAGE if want_lineage])

    def norm(t):  # "+00:00" and "UTC" are the same zone (both: isAdjustedToUTC in Parquet)
        if pa.types.is_timestamp(t) and t.tz in ("UTC", "+00:00", "Z"):
            return pa.timestamp(t.unit, tz="UTC")
        return t

    schema_ok = [(x.name, norm(x.type)) for x in f.schema_arrow] == [(x.name, x.type) for x in want]
    if not schema_ok:
        diffs["schema"] = {"csv": str(want), "parquet": str(f.schema_arrow)}
    kv = {k.decode(): v.decode() for k, v in (f.metadata.metadata or {}).items()
          if k.startswith(b"lakeline.")}
    return {"ok": not diffs, "csv": r, "parquet_rows": g["rows"], "differences": diffs,
            "parquet_schema": str(f.schema_arrow).replace("\n", "; "), "provenance": kv,
            "seconds": time.perf_counter() - t0}


def columns(path):
    md = pq.ParquetFile(path).metadata
    cols = {}
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        for j in range(rg.num_columns):
            c = rg.column(j)
            e = cols.setdefault(c.path_in_schema, {"bytes": 0, "uncompressed": 0, "encodings": set(),
                                                    "compression": c.compression})
            e["bytes"] += c.total_compressed_size
            e["uncompressed"] += c.total_uncompressed_size
            e["encodings"].update(c.encodings)
    for e in cols.values():
        e["encodings"] = sorted(e["encodings"])
    rgs = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
    return {"rows": md.num_rows, "row_groups": md.num_row_groups, "max_row_group_rows": max(rgs or [0]),
            "format_version": md.format_version, "created_by": md.created_by, "columns": cols}


def write_size(table, **kw):
    sink = pa.MockOutputStream()
    t0 = time.perf_counter()
    pq.write_table(table, sink, row_group_size=1 << 20, compression="zstd", write_statistics=True, **kw)
    return sink.size(), time.perf_counter() - t0


# Per-column candidates: (label, write_table kwargs for that one column).
def candidates(field):
    t = field.type
    out = [("dictionary (plain fallback)", {"use_dictionary": True}),
           ("PLAIN", {"use_dictionary": False, "column_encoding": "PLAIN"})]
    if pa.types.is_integer(t) or pa.types.is_timestamp(t) or pa.types.is_date(t):
        out.append(("DELTA_BINARY_PACKED", {"use_dictionary": False, "column_encoding": "DELTA_BINARY_PACKED"}))
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_timestamp(t) or pa.types.is_date(t):
        out.append(("BYTE_STREAM_SPLIT", {"use_dictionary": False, "column_encoding": "BYTE_STREAM_SPLIT"}))
    if pa.types.is_string(t):
        out.append(("DELTA_LENGTH_BYTE_ARRAY", {"use_dictionary": False, "column_encoding": "DELTA_LENGTH_BYTE_ARRAY"}))
        out.append(("DELTA_BYTE_ARRAY", {"use_dictionary": False, "column_encoding": "DELTA_BYTE_ARRAY"}))
    return out


def encodings(path, levels=(1, 3, 6, 9), columns_only=False):
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    t0 = time.perf_counter()
    table = pq.read_table(path)
    # Data only: the key/value metadata (provenance) is the same few hundred bytes in every file.
    table = table.replace_schema_metadata(None)
    read_s = time.perf_counter() - t0
    per_col = {}
    best = {}
    for field in table.schema:
        one = table.select([field.name])
        res = {}
        for label, kw in candidates(field):
            kw = dict(kw)
            if "column_encoding" in kw:
                kw["column_encoding"] = {field.name: kw["column_encoding"]}
            try:
                size, secs = write_size(one, compression_level=3, **kw)
                res[label] = {"bytes": size, "seconds": secs}
            except (pa.ArrowException, ValueError) as e:
                res[label] = {"error": str(e)[:160]}
        per_col[field.name] = res
        ok = {k: v for k, v in res.items() if "bytes" in v}
        best[field.name] = min(ok, key=lambda k: ok[k]["bytes"])
    if columns_only:
        return {"rows": table.num_rows, "read_seconds": read_s, "per_column_zstd3": per_col,
                "best_per_column": best, "pyarrow": pa.__version__}

    def layout_kw(choice):
        dict_cols = [c for c, lab in choice.items() if lab.startswith("dictionary")]
        enc = {c: lab for c, lab in choice.items() if not lab.startswith("dictionary")}
        return {"use_dictionary": dict_cols, "column_encoding": enc or None}

    # lakeline's writer tries a dictionary first for every column and falls back to DELTA for
    # int/timestamp; pyarrow cannot combine the two, so the nearest settings lakeline could
    # switch to are: no dictionary + DELTA for int/timestamp, dictionary for the rest.
    no_dict_delta = {}
    for field in table.schema:
        t = field.type
        no_dict_delta[field.name] = ("DELTA_BINARY_PACKED" if pa.types.is_integer(t) or pa.types.is_timestamp(t)
                                     else "dictionary (plain fallback)")
    whole = []
    layouts = {"dictionary everywhere, plain fallback (pyarrow's default)":
               {c: "dictionary (plain fallback)" for c in table.column_names},
               "int/timestamp: DELTA, no dictionary; others: dictionary": no_dict_delta,
               "best per column (chosen at zstd 3)": best}
    for name, choice in layouts.items():
        for lvl in (levels if name.startswith("best") else (3,)):
            for ver in (("1.0", "2.0") if name.startswith("best") and lvl == 3 else ("1.0",)):
                size, secs = write_size(table, compression_level=lvl, data_page_version=ver, **layout_kw(choice))
                whole.append({"layout": name, "zstd_level": lvl, "data_page_version": ver,
                              "bytes": size, "seconds": secs})
    return {"rows": table.num_rows, "read_seconds": read_s, "per_column_zstd3": per_col,
            "best_per_column": best, "int_ts_delta_no_dict": no_dict_delta, "whole_file": whole,
            "pyarrow": pa.__version__}


def main():
    cmd = sys.argv[1]
    if cmd == "check":
        out = check(sys.argv[2], sys.argv[3], sys.argv[4:7])
    elif cmd == "columns":
        out = {p: columns(p) for p in sys.argv[2:]}
    elif cmd == "encodings":
        out = encodings(sys.argv[2], columns_only="--columns-only" in sys.argv[3:])
    else:
        sys.exit(__doc__)
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
