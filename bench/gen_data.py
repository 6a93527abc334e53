"""Test data for `make bench`, deterministic (seeded) and cached by size.

  gen_data.py csv OUT MIB        typed CSV for the `orders` dataset, about MIB MiB
  gen_data.py parquet OUT MIB    Parquet for the `inventory` dataset, about MIB MiB

CSV columns (config/datasets.yaml, orders): order_id int, customer string (~5 % quoted with a
comma inside), amount float, currency string (optional, ~3 % empty), order_date date,
created_at ISO timestamp with Z, gift bool (optional, ~10 % empty). A ~64 MiB block of rows is
generated once and repeated (order_id keeps counting) so 1 GiB takes seconds, not minutes.
"""

import os
import random
import sys

MIB = 1 << 20
HEADER = "order_id,customer,amount,currency,order_date,created_at,gift\n"


def csv_block(rng, target_bytes):
    """Rows without their order_id: each line starts with the comma after it."""
    names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
    currencies = ["EUR", "USD", "GBP", "CHF", "SEK"]
    lines, size = [], 0
    while size < target_bytes:
        n = rng.choice(names) + str(rng.randrange(100000))
        if rng.random() < 0.05:
            n = '"' + n + ', Ltd"'
        cur = "" if rng.random() < 0.03 else rng.choice(currencies)
        m, d = rng.randrange(1, 13), rng.randrange(1, 29)
        gift = "" if rng.random() < 0.1 else rng.choice(("true", "false"))
        line = ",%s,%d.%02d,%s,2026-%02d-%02d,2026-%02d-%02dT%02d:%02d:%02dZ,%s\n" % (
            n, rng.randrange(1, 5000), rng.randrange(100), cur, m, d, m, d,
            rng.randrange(24), rng.randrange(60), rng.randrange(60), gift)
        lines.append(line)
        size += len(line) + 8
    return lines


def gen_csv(out, mib):
    rng = random.Random(7)
    target = mib * MIB
    block = csv_block(rng, min(target, 64 * MIB))
    tmp = out + ".tmp"
    written, oid = 0, 1
    with open(tmp, "w", buffering=8 * MIB) as f:
        f.write(HEADER)
        written += len(HEADER)
        while written < target:
            data = "".join([str(oid + i) + rest for i, rest in enumerate(block)])
            oid += len(block)
            if written + len(data) > target:
                cut = data.rfind("\n", 0, target - written) + 1
                data = data[:cut] if cut > 0 else data[: data.find("\n") + 1]
            f.write(data)
            written += len(data)
    os.replace(tmp, out)


def gen_parquet(out, mib):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(11)
    n = 1_000_000
    sku = pa.array(["SKU-%012x" % rng.getrandbits(48) for _ in range(n)], pa.string())
    wh = pa.array(["WH-%03d" % rng.randrange(1000) for _ in range(n)], pa.string())
    qty = pa.array([rng.randrange(10**9) for _ in range(n)], pa.int64())
    price = pa.array([rng.random() * 1000 for _ in range(n)], pa.float64())
    as_of = pa.array([20000 + rng.randrange(400) for _ in range(n)], pa.int32()).cast(pa.date32())
    schema = pa.schema([
        pa.field("sku", pa.string(), nullable=False),
        pa.field("warehouse", pa.string(), nullable=False),
        pa.field("quantity", pa.int64(), nullable=False),
        pa.field("unit_price", pa.float64()),
        pa.field("as_of", pa.date32(), nullable=False),
    ])
    table = pa.Table.from_arrays([sku, wh, qty, price, as_of], schema=schema)
    tmp = out + ".tmp"
    # Uncompressed, no dictionary: the file size is the data size (random data would not
    # compress much anyway) and generation stays fast.
    probe = pa.BufferOutputStream()
    pq.write_table(table, probe, compression="NONE", use_dictionary=False)
    copies = max(1, round(mib * MIB / probe.getvalue().size))
    with pq.ParquetWriter(tmp, schema, compression="NONE", use_dictionary=False) as w:
        for _ in range(copies):
            w.write_table(table, row_group_size=n)
    os.replace(tmp, out)


def main():
    kind, out, mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if os.path.exists(out):
        return
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    if kind == "csv":
        gen_csv(out, mib)
    elif kind == "parquet":
        gen_parquet(out, mib)
    else:
        sys.exit("kind: csv or parquet")


if __name__ == "__main__":
    main()
