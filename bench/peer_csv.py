"""The pyarrow peer of `lakeline validate FILE --dataset orders`: pyarrow's faster reader here,
the streaming `open_csv` (typed ConvertOptions, use_threads=False, CPU and I/O pools of one),
reading every batch and keeping none, which is what a validator does. (`read_csv` builds the
whole table and measured slower on this file.) Prints {"seconds": read time without
interpreter/import, "rows": N}. `peer_csv.py FILE [orders|orders5]`: the column types of the
7-column sample schema (default) or of the 5-column short-row file."""

import json
import sys
import time

import pyarrow as pa
import pyarrow.csv as pcsv

TYPES = {
    "order_id": pa.int64(),
    "customer": pa.string(),
    "amount": pa.float64(),
    "currency": pa.string(),
    "order_date": pa.date32(),
    "created_at": pa.timestamp("s", tz="UTC"),
    "gift": pa.bool_(),
}

if len(sys.argv) > 2 and sys.argv[2] == "orders5":
    TYPES = {k: v for k, v in TYPES.items() if k not in ("currency", "gift")}

pa.set_cpu_count(1)
pa.set_io_thread_count(1)
t0 = time.perf_counter()
reader = pcsv.open_csv(
    sys.argv[1],
    read_options=pcsv.ReadOptions(use_threads=False),
    convert_options=pcsv.ConvertOptions(column_types=TYPES),
)
rows = 0
for batch in reader:
    rows += batch.num_rows
secs = time.perf_counter() - t0
print(json.dumps({"seconds": secs, "rows": rows}))
