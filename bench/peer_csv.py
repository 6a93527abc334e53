"""The pyarrow peer of `lakeline validate FILE --dataset orders`: read_csv with the dataset's
column types on one thread. Prints {"seconds": read time without interpreter/import, "rows": N}."""

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

t0 = time.perf_counter()
table = pcsv.read_csv(
    sys.argv[1],
    read_options=pcsv.ReadOptions(use_threads=False),
    convert_options=pcsv.ConvertOptions(column_types=TYPES),
)
secs = time.perf_counter() - t0
print(json.dumps({"seconds": secs, "rows": table.num_rows}))
