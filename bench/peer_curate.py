"""The peers of `lakeline curate FILE --dataset orders5 --out OUT.parquet`: CSV -> typed zstd
Parquet on one thread, as a user would write it.

    python peer_curate.py pyarrow IN.csv OUT.parquet
    python peer_curate.py duckdb  IN.csv OUT.parquet

pyarrow: `pyarrow.csv.open_csv` (typed ConvertOptions, use_threads=False; CPU and I/O pools of
one thread) streaming each batch into `pyarrow.parquet.ParquetWriter(compression="zstd")`.
DuckDB: `COPY (SELECT * FROM read_csv(..., columns={typed})) TO OUT (FORMAT parquet,
COMPRESSION zstd)` with `SET threads=1`.
Both write the curated types of lakeline (int64, string, float64, date32, timestamp[us, UTC]).
Prints {"seconds": conversion time without interpreter start and import, "rows": N}.
"""

import json
import sys
import time

COLUMNS = [("order_id", "int"), ("customer", "string"), ("amount", "float"),
           ("order_date", "date"), ("created_at", "timestamp")]


def run_pyarrow(src, out):
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    arrow = {"int": pa.int64(), "string": pa.string(), "float": pa.float64(), "date": pa.date32(),
             "timestamp": pa.timestamp("us", tz="UTC")}
    t0 = time.perf_counter()
    reader = pcsv.open_csv(
        src,
        read_options=pcsv.ReadOptions(use_threads=False),
        convert_options=pcsv.ConvertOptions(column_types={n: arrow[t] for n, t in COLUMNS}),
    )
    rows = 0
    with pq.ParquetWriter(out, reader.schema, compression="zstd") as w:
        for batch in reader:
            w.write_batch(batch)
            rows += batch.num_rows
    return time.perf_counter() - t0, rows


def run_duckdb(src, out):
    import duckdb

    sql = {"int": "BIGINT", "string": "VARCHAR", "float": "DOUBLE", "date": "DATE",
           "timestamp": "TIMESTAMPTZ"}
    cols = ", ".join(f"'{n}': '{sql[t]}'" for n, t in COLUMNS)
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads=1")
    con.execute("SET TimeZone='UTC'")
    con.execute(
        f"COPY (SELECT * FROM read_csv('{src}', header=true, delim=',', quote='\"', escape='\"', "
        f"auto_detect=false, columns={{{cols}}})) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    secs = time.perf_counter() - t0
    rows = con.execute(f"SELECT sum(num_rows) FROM parquet_file_metadata('{out}')").fetchone()[0]
    return secs, int(rows)


def main():
    who, src, out = sys.argv[1], sys.argv[2], sys.argv[3]
    secs, rows = {"pyarrow": run_pyarrow, "duckdb": run_duckdb}[who](src, out)
    print(json.dumps({"seconds": secs, "rows": rows}))


if __name__ == "__main__":
    main()
