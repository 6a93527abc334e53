"""The parts of curate.py that need no Spark: the registry reading and sizes."""

import curate
from conftest import REAL_REGISTRY


def test_registry_defaults_match_the_rust_registry():
    reg = curate.load_registry(REAL_REGISTRY)
    orders = curate.dataset_from_registry(reg, "orders")
    assert orders.null_values == ("",) and orders.delimiter == "," and orders.header == "required"
    assert orders.key_prefix == "raw/orders/" and orders.is_gzip("a.csv.gz") and not orders.is_gzip("a.csv")
    assert orders.target_file_size == 128 << 20 and orders.compaction_prefix == "curated/orders/"
    returns = curate.dataset_from_registry(reg, "returns")
    assert returns.null_values == ("", "NULL", "\\N") and returns.delimiter == "\t" and returns.header == "absent"
    assert curate.dataset_from_registry(reg, "clicks").target_file_size == 256 << 20
    assert curate.dataset_for_key(reg, "raw/inventory/dt=2026-11-25/x.parquet").name == "inventory"
    assert curate.render_prefix("curated/{dataset}/{partition}/", "orders", "") == "curated/orders/"


def test_sizes():
    assert [curate.parse_size(v) for v in ("128MiB", "1.5GB", 4096, "1B", "2 KiB")] == [128 << 20, 1_500_000_000, 4096, 1, 2048]
