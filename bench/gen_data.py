"""Test data for `make bench`, deterministic (seeded) and cached by size.

  gen_data.py csv OUT MIB        typed CSV for the `orders` dataset, about MIB MiB
  gen_data.py parquet OUT MIB    Parquet for the `inventory` dataset, about MIB MiB
                                 (uncompressed, no dictionary: the footer-check row)
  gen_data.py orders5 OUT MIB    the 5-column short-row orders CSV of the curate row (below)
  gen_data.py orders5gz OUT MIB  the same, MIB MiB before gzip (level 6, like `gzip`)
  gen_data.py clicks OUT MIB     JSON Lines for the `clicks` dataset
  gen_data.py returns OUT MIB    TSV without header for the `returns` dataset
  gen_data.py inventory OUT MIB [CODEC]
                                 Parquet for `inventory` as an ERP would write it with
                                 pyarrow/Spark defaults (snappy, dictionary), about MIB MiB;
                                 CODEC (snappy, zstd, gzip, none) replaces snappy

CSV columns (config/datasets.yaml, orders): order_id int, customer string (~5 % quoted with a
comma inside), amount float, currency string (optional, ~3 % empty), order_date date,
created_at ISO timestamp with Z, gift bool (optional, ~10 % empty). A ~64 MiB block of rows is
generated once and repeated (order_id keeps counting) so 1 GiB takes seconds, not minutes.

orders5 (bench/curate-registry.yaml, dataset orders5): `order_id,customer,amount,order_date,
created_at`, ~54.5 bytes a row (1 GiB = ~19.7 M rows, like the file in the shared notes). Shaped
like a real export: one ~64 MiB block of rows is one day (order_date constant, created_at
ascending within the day, as orders are numbered), and each repeat is the next day; order_id
counts up across the file; customer is one of ~10,000 names (~5 % quoted with a comma inside),
amount one of 49,900 values 1.00-499.99.
"""

import gzip
import json

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


def orders5_block(rng, target_bytes):
    """One day of rows without order_id; '@D@' stands for the day (order_date and created_at)."""
    names = ["ann", "bob", "eve", "ida", "joe", "kim", "lea", "max", "ned", "zoe"]
    n = target_bytes // 55
    secs = sorted(rng.randrange(86400) for _ in range(n))
    lines = []
    for s in secs:
        c = rng.choice(names) + str(rng.randrange(1000))
        if rng.random() < 0.05:
            c = '"' + c + ', Ltd"'
        lines.append(",%s,%d.%02d,@D@,@D@T%02d:%02d:%02dZ\n" % (
            c, rng.randrange(1, 500), rng.randrange(100), s // 3600, s // 60 % 60, s % 60))
    return "".join(lines)


def gen_orders5(f, mib):
    import datetime

    rng = random.Random(5)
    target = mib * MIB
    block = orders5_block(rng, min(target, 64 * MIB)).splitlines(keepends=True)
    header = "order_id,customer,amount,order_date,created_at\n"
    f.write(header)
    written, oid, day = len(header), 1, datetime.date(2026, 11, 1)
    while written < target:
        d = day.isoformat()
        data = "".join([str(oid + i) + rest for i, rest in enumerate(block)]).replace("@D@", d)
        oid += len(block)
        day += datetime.timedelta(days=1)
        if written + len(data) > target:
            data = data[: data.rfind("\n", 0, target - written) + 1]
            if not data:
                break
        f.write(data)
        written += len(data)


def gen_clicks(f, mib):
    """clicks (config/datasets.yaml): event_id, user_id, url, ts (ascending, millis), duration
    (~10 % absent), bot (~30 % absent). A block of lines with placeholders is made once; each
    repeat fills in the event ids and moves the clock on by the block's span."""
    rng = random.Random(13)
    target = mib * MIB
    paths = ["/", "/cart", "/checkout", "/search?q=espresso", "/account"] + [
        "/products/item-%d" % i for i in range(2000)]
    tails = []  # (ms offset, text after the timestamp)
    t = 0
    while len(tails) < 200_000:
        t += rng.randrange(5)
        rest = ""
        if rng.random() < 0.9:
            rest += ',"duration":%.2f' % (rng.random() * 30)
        if rng.random() < 0.7:
            rest += ',"bot":%s' % ("true" if rng.random() < 0.02 else "false")
        tails.append((t, rng.randrange(1, 2_000_000), rng.choice(paths), rest + "}\n"))
    span = t + 1
    written, i, base = 0, 0, 1_795_000_000_000  # ms since the epoch (2026-11-18)
    while written < target:
        out = []
        for off, user, path, rest in tails:
            ms = base + off
            out.append('{"event_id":"evt-%012d","user_id":%d,"url":"https://shop.example.com%s",'
                       '"ts":"%s.%03dZ"%s' % (i, user, path, time_iso(ms // 1000), ms % 1000, rest))
            i += 1
        base += span
        data = "".join(out)
        if written + len(data) > target:
            data = data[: data.rfind("\n", 0, target - written) + 1]
            if not data:
                break
        f.write(data)
        written += len(data)


_ISO = {}


def time_iso(secs):
    s = _ISO.get(secs)
    if s is None:
        import datetime
        if len(_ISO) > 100_000:
            _ISO.clear()
        s = _ISO[secs] = datetime.datetime.fromtimestamp(
            secs, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return s


def gen_returns(f, mib):
    """returns (config/datasets.yaml): TSV, no header; reason null as \\N / NULL / empty."""
    rng = random.Random(17)
    target = mib * MIB
    reasons = ["damaged", "wrong size", "late delivery", "changed mind", "\\N", "NULL", ""]
    block = "".join("\t%d\t%s\t%s\n" % (rng.randrange(1, 20_000_000), rng.choice(reasons),
                                       rng.choice(("true", "false"))) for _ in range(500_000))
    block = block.splitlines(keepends=True)
    written, rid = 0, 1
    while written < target:
        data = "".join([str(rid + i) + rest for i, rest in enumerate(block)])
        rid += len(block)
        if written + len(data) > target:
            data = data[: data.rfind("\n", 0, target - written) + 1]
            if not data:
                break
        f.write(data)
        written += len(data)


def gen_parquet(out, mib, erp=False, codec="snappy"):
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
    if erp:  # what pyarrow/Spark write by default: snappy, dictionary
        probe = pa.BufferOutputStream()
        pq.write_table(table, probe, compression=codec)
        copies = max(1, round(mib * MIB / probe.getvalue().size))
        with pq.ParquetWriter(tmp, schema, compression=codec) as w:
            for _ in range(copies):
                w.write_table(table, row_group_size=n)
        os.replace(tmp, out)
        return
    # Uncompressed, no dictionary: the file size is the data size (random data would not
    # compress much anyway) and generation stays fast.
    probe = pa.BufferOutputStream()
    pq.write_table(table, probe, compression="NONE", use_dictionary=False)
    copies = max(1, round(mib * MIB / probe.getvalue().size))
    with pq.ParquetWriter(tmp, schema, compression="NONE", use_dictionary=False) as w:
        for _ in range(copies):
            w.write_table(table, row_group_size=n)
    os.replace(tmp, out)


TEXT = {"orders5": gen_orders5, "orders5gz": gen_orders5, "clicks": gen_clicks,
        "returns": gen_returns}


def main():
    kind, out, mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if os.path.exists(out):
        return
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    if kind == "csv":
        gen_csv(out, mib)
    elif kind == "parquet":
        gen_parquet(out, mib)
    elif kind == "inventory":
        gen_parquet(out, mib, erp=True, codec=sys.argv[4] if len(sys.argv) > 4 else "snappy")
    elif kind in TEXT:
        tmp = out + ".tmp"
        if kind == "orders5gz":
            with gzip.open(tmp, "wt", compresslevel=6, newline="") as f:
                gen_orders5(f, mib)
        else:
            with open(tmp, "w", buffering=8 * MIB, newline="") as f:
                TEXT[kind](f, mib)
        os.replace(tmp, out)
    else:
        sys.exit("kind: csv, parquet, orders5, orders5gz, clicks, returns or inventory")


if __name__ == "__main__":
    main()
