"""The parts of the jobs that need no Spark: the block both job files carry (each job must stay
one self-contained file for Glue and EMR, so the block is duplicated and held equal here), the
registry reading, sizes and the compaction names."""

import hashlib
import re

import compact
import curate
from conftest import JOBS, REAL_REGISTRY

BLOCK = re.compile(r"# ==== lakeline shared: begin ====\n.*# ==== lakeline shared: end ====\n", re.S)


def test_the_shared_block_is_identical_in_both_jobs():
    a = BLOCK.search((JOBS / "curate.py").read_text(encoding="utf-8"))
    b = BLOCK.search((JOBS / "compact.py").read_text(encoding="utf-8"))
    assert a and b, "both jobs carry the shared block between its markers"
    assert a.group(0) == b.group(0), "edit the shared block in both jobs/curate.py and jobs/compact.py"


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


def test_compaction_names():
    objs = [curate.Obj("curated/o/dt=1/b.parquet", 1, "e2"), curate.Obj("curated/o/dt=1/a.parquet", 1, "e1")]
    lines = "curated/o/dt=1/a.parquet\te1\ncurated/o/dt=1/b.parquet\te2\n"
    assert compact.group_id(objs) == hashlib.sha256(lines.encode()).hexdigest()[:16]
    assert compact.manifest_key("orders", "dt=2026-11-25", "0123456789abcdef") == "_lakeline/compaction/orders/dt=2026-11-25/0123456789abcdef.json"
    assert compact.manifest_key("orders", "", "g") == "_lakeline/compaction/orders/g.json"
    assert compact.numbered_key("p/", "compacted-g", 3) == "p/compacted-g-00003.parquet"
    assert [compact.is_input_name(n) for n in ("a.parquet", "_x.parquet", ".a.parquet", "a.json", "_lakeline_compaction.json")] == [True, False, False, False, False]


def test_arguments_of_a_compaction_run_as_start_job_passes_them():
    emr = compact.parse_args(["--input", "s3://lake/curated/orders/dt=2026-11-24/", "--output-files", "3", "--target-file-size", "134217728",
                              "--source", "s3://lake/curated/orders/dt=2026-11-24/", "--partition", "dt=2026-11-24", "--target", "s3://lake/curated/orders/dt=2026-11-24/"])
    assert (emr.input, emr.output_files, emr.target_file_size, emr.partition) == ("s3://lake/curated/orders/dt=2026-11-24/", 3, "134217728", "dt=2026-11-24")
    glue = compact.parse_args(["--JOB_NAME", "j", "--input", "s3://lake/curated/orders/dt=2026-11-24/", "--output-files", "1", "--target-file-size", "1",
                               "--lakeline_source", "s3://lake/curated/orders/dt=2026-11-24/", "--lakeline_dataset", "orders", "--lakeline_partition", "dt=2026-11-24",
                               "--lakeline_execution", "e", "--lakeline_run_key", "k", "--lakeline_registry", REAL_REGISTRY])
    part, explicit = compact.resolve(glue)
    assert (part.dataset, part.partition, part.prefix, part.target_file_size, explicit) == ("orders", "dt=2026-11-24", "curated/orders/dt=2026-11-24/", 1, None)
    derived, _ = compact.resolve(compact.parse_args(["--input", "s3://lake/curated/clicks/dt=2026-11-24/", "--registry", REAL_REGISTRY]))
    assert (derived.dataset, derived.partition, derived.target_file_size) == ("clicks", "dt=2026-11-24", 256 << 20)
